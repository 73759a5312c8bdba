"""How close codes E(x) are to the prior N(0, I), and how faithful G(E(x)) is.

Used for the AAE and ALI (``experiments.aae``, ``experiments.ali``):

* :func:`mmd_squared`: the unbiased estimate of MMD² between codes and prior
  draws with the inverse multiquadric kernel k(a, b) = C / (C + ‖a − b‖²),
  C = 2·d (the scale that Tolstikhin et al., 2018, use for a N(0, I) prior in
  d dimensions). 0 in expectation when the codes follow the prior.
* :func:`moment_distances`: ‖mean‖₂ and ‖Cov − I‖_F / √d of the codes.
* :func:`same_mode_fraction`: for 2D mixtures, the fraction of points whose
  reconstruction is a high-quality sample (within 3σ) of the point's own mode.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from vi_gen import xla


def _imq_kernel(a: jax.Array, b: jax.Array, scale: float) -> jax.Array:
  sq = (jnp.sum(a * a, -1)[:, None] + jnp.sum(b * b, -1)[None, :]
        - 2.0 * a @ b.T)
  return scale / (scale + jnp.maximum(sq, 0.0))


@xla.jit
def mmd_squared(codes: jax.Array, prior: jax.Array) -> jax.Array:
  """Unbiased MMD² between ``codes`` ``[n, d]`` and ``prior`` draws ``[m, d]``.

  Inverse multiquadric kernel with C = 2d. Can be slightly negative.
  """
  scale = 2.0 * codes.shape[-1]
  n, m = codes.shape[0], prior.shape[0]
  k_xx = _imq_kernel(codes, codes, scale)
  k_yy = _imq_kernel(prior, prior, scale)
  k_xy = _imq_kernel(codes, prior, scale)
  # Off-diagonal means: the diagonal (k = 1) would bias the estimate upwards.
  xx = (jnp.sum(k_xx) - jnp.trace(k_xx)) / (n * (n - 1))
  yy = (jnp.sum(k_yy) - jnp.trace(k_yy)) / (m * (m - 1))
  return xx + yy - 2.0 * jnp.mean(k_xy)


class Moments(NamedTuple):
  mean_norm: jax.Array
  cov_distance: jax.Array


@xla.jit
def moment_distances(codes: jax.Array) -> Moments:
  """``‖mean‖₂`` and ``‖Cov − I‖_F / √d`` of ``codes`` ``[n, d]``."""
  d = codes.shape[-1]
  mean = jnp.mean(codes, 0)
  centred = codes - mean
  cov = centred.T @ centred / (codes.shape[0] - 1)
  return Moments(jnp.linalg.norm(mean),
                 jnp.linalg.norm(cov - jnp.eye(d)) / jnp.sqrt(d))


@xla.jit
def same_mode_fraction(points: jax.Array, reconstructions: jax.Array,
                       means: jax.Array, sigma: float) -> jax.Array:
  """Fraction of ``points`` whose reconstruction lies within 3σ of the point's mode.

  Each point's mode is its nearest mode centre; the 3σ radius is the 2D
  protocol's high-quality threshold (``vi_gen/metrics/modes2d.py``).
  """
  def nearest(x):
    return jnp.argmin(jnp.sum(jnp.square(x[:, None] - means[None]), -1), -1)
  own = means[nearest(points)]
  close = jnp.sum(jnp.square(reconstructions - own), -1) < (3.0 * sigma) ** 2
  return jnp.mean(close)
