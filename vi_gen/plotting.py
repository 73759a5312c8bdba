"""Pictures a researcher looks at: 2D samples over the true modes; image grids."""

from typing import Optional

from matplotlib import image as mpl_image
from matplotlib import patches
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

# Figures are drawn on their own Agg canvas, without pyplot: no display is
# needed (servers, CI), and the backend of whoever imports this (a notebook's
# inline one) is left alone.


def _figure() -> tuple[Figure, object]:
  fig = Figure(figsize=(5, 5), dpi=100)
  FigureCanvasAgg(fig)
  return fig, fig.add_subplot()


def plot_samples_2d(path: Optional[str], samples: np.ndarray, means: np.ndarray,
                    sigma: float, title: str) -> np.ndarray:
  """Scatters ``samples`` with each mode's 3σ high-quality disc.

  Saves the PNG to ``path`` unless it is None; returns the picture as uint8
  ``[H, W, 3]`` (for TensorBoard).
  """
  means = np.asarray(means)
  span = np.abs(means).max() + 0.5
  fig, ax = _figure()
  ax.scatter(samples[:, 0], samples[:, 1], s=2, c='black', alpha=0.3,
             label='generated', rasterized=True)
  for i, mean in enumerate(means):
    ax.add_patch(patches.Circle(mean, 3 * sigma, color='tab:red', fill=False, lw=0.8,
                            label='3σ of a mode' if i == 0 else None))
  ax.scatter(means[:, 0], means[:, 1], marker='+', c='tab:red', s=30)
  ax.set(xlim=(-span, span), ylim=(-span, span), aspect='equal')
  ax.set_title(title, fontsize=9)  # the scores fit on one line
  ax.legend(loc='upper right', fontsize=7)
  fig.tight_layout()
  if path is not None:
    fig.savefig(path)
  fig.canvas.draw()
  picture = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
  return picture


def image_grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
  """Tiles ``[N, H, W, C]`` images in [−1, 1] into one uint8 ``[rows·H, columns·W, C]``."""
  images = np.asarray(images)
  n, height, width, channels = images.shape
  rows = -(-n // columns)
  padded = np.full((rows * columns, height, width, channels), -1.0, np.float32)
  padded[:n] = images
  grid = padded.reshape(rows, columns, height, width, channels)
  grid = grid.transpose(0, 2, 1, 3, 4).reshape(rows * height, columns * width,
                                               channels)
  return np.round((np.clip(grid, -1, 1) + 1) * 127.5).astype(np.uint8)


def save_image_grid(path: str, grid: np.ndarray) -> None:
  """Saves a uint8 grid from :func:`image_grid` as a PNG (grey if one channel)."""
  if grid.shape[-1] == 1:
    mpl_image.imsave(path, grid[..., 0], cmap='gray', vmin=0, vmax=255)
  else:
    mpl_image.imsave(path, grid)


def plot_mixture_2d(path: str, data: np.ndarray, weights: np.ndarray,
                    means: np.ndarray, covariances: np.ndarray, title: str) -> None:
  """Scatters ``data`` with each component's 1σ and 2σ ellipses, and saves a PNG.

  ``covariances``: [K, 2, 2] or, for diagonal components, [K, 2].
  """
  covariances = np.asarray(covariances)
  if covariances.ndim == 2:
    covariances = np.stack([np.diag(c) for c in covariances])
  fig, ax = _figure()
  ax.scatter(data[:, 0], data[:, 1], s=2, c='black', alpha=0.2, rasterized=True)
  angles = np.linspace(0, 2 * np.pi, 100)
  circle = np.stack([np.cos(angles), np.sin(angles)])
  for k, (weight, mean, cov) in enumerate(zip(weights, means, covariances)):
    values, vectors = np.linalg.eigh(cov)
    shape = vectors @ np.diag(np.sqrt(np.maximum(values, 0)))
    for radius, style in ((1, '-'), (2, ':')):
      ring = mean[:, None] + radius * shape @ circle
      ax.plot(ring[0], ring[1], style, c='tab:red', lw=0.8,
              alpha=min(1.0, 0.3 + 3 * float(weight)),
              label=f'{radius}σ' if k == 0 else None)
  ax.scatter(means[:, 0], means[:, 1], marker='+', c='tab:red', s=30)
  ax.set(aspect='equal', title=title)
  ax.legend(loc='upper right', fontsize=7)
  fig.tight_layout()
  fig.savefig(path)
