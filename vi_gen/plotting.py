"""Pictures a researcher looks at: generated 2D samples over the true modes."""

import matplotlib

matplotlib.use('Agg')  # Files only; no display needed on servers and CI.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def plot_samples_2d(path: str, samples: np.ndarray, means: np.ndarray,
                    sigma: float, title: str) -> None:
  """Scatters ``samples`` with each mode's 3σ high-quality disc, and saves a PNG."""
  means = np.asarray(means)
  span = np.abs(means).max() + 0.5
  fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
  ax.scatter(samples[:, 0], samples[:, 1], s=2, c='black', alpha=0.3,
             label='generated', rasterized=True)
  for i, mean in enumerate(means):
    ax.add_patch(plt.Circle(mean, 3 * sigma, color='tab:red', fill=False, lw=0.8,
                            label='3σ of a mode' if i == 0 else None))
  ax.scatter(means[:, 0], means[:, 1], marker='+', c='tab:red', s=30)
  ax.set(xlim=(-span, span), ylim=(-span, span), aspect='equal', title=title)
  ax.legend(loc='upper right', fontsize=7)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
