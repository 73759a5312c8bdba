"""Image metrics: MNIST and stacked-MNIST mode coverage and the Fréchet distance.

Stacked MNIST (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018): the fixed
classifier labels each of the three channels; the label triple is the mode (1,000
of them). Report the number of modes hit and KL(mode histogram ‖ uniform over
1,000), from 26,000 samples. On MNIST the same with one channel: the digit is the
mode (10 of them), from the FD's 10,000 samples.

Fréchet distance: between Gaussians fitted to two feature sets (the fixed MNIST
classifier's 128-unit layer, per channel and concatenated for stacked MNIST),
``‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{½} Σ₂ Σ₁^{½})^{½})``. It is biased upwards at
finite sample size, so it is always reported next to its *floor*: the distance
between the real test and real train sets with the same classifier and count.
"""

import dataclasses

import numpy as np

STACKED_MNIST_MODES = 1000
STACKED_MNIST_SAMPLES = 26_000


@dataclasses.dataclass(frozen=True)
class StackedModes:
  modes: int          # distinct label triples seen (of 1,000)
  kl: float           # KL(histogram ‖ uniform over 1,000), nats
  counts: np.ndarray  # [1000] histogram


def label_modes(labels: np.ndarray, channels: int) -> StackedModes:
  """Mode coverage and KL to uniform from ``[N, channels]`` per-channel digit
  labels: the mode is the digit tuple, of 10**channels."""
  labels = np.asarray(labels)
  if labels.ndim != 2 or labels.shape[1] != channels:
    raise ValueError(f'expected [N, {channels}] labels, got {labels.shape}')
  num_modes = 10**channels
  codes = labels @ (10**np.arange(channels - 1, -1, -1))
  counts = np.bincount(codes, minlength=num_modes)
  p = counts / counts.sum()
  nz = p > 0
  kl = float(np.sum(p[nz] * np.log(p[nz] * num_modes)))
  return StackedModes(modes=int(nz.sum()), kl=kl, counts=counts)


def stacked_mnist_modes(labels: np.ndarray) -> StackedModes:
  """Mode coverage and KL to uniform from ``[N, 3]`` per-channel digit labels."""
  return label_modes(labels, 3)


def digit_modes(labels: np.ndarray) -> StackedModes:
  """Digits covered (of 10) and KL to uniform from ``[N, 1]`` MNIST labels."""
  return label_modes(labels, 1)


@dataclasses.dataclass(frozen=True)
class GaussianStats:
  mean: np.ndarray  # [D], float64
  cov: np.ndarray   # [D, D], float64
  count: int


def gaussian_stats(features: np.ndarray) -> GaussianStats:
  features = np.asarray(features, np.float64)
  return GaussianStats(features.mean(0), np.cov(features, rowvar=False),
                       len(features))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
  return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
  """Fréchet distance between two fitted Gaussians (float64, symmetric form)."""
  root_a = _psd_sqrt(a.cov)
  middle = root_a @ b.cov @ root_a
  trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2),
                                      0, None)))
  diff = a.mean - b.mean
  distance = diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2 * trace_sqrt
  return float(max(distance, 0.0))  # ≥ 0 exactly; round-off can dip below
