"""Mode coverage, sample quality and reverse KL on 2D mixtures (PacGAN Table 1).

The protocol of PacGAN (Lin et al., 2018) and VEEGAN (Srivastava et al., 2017):
each generated sample is assigned to its nearest mode; it is *high quality* if it
lies within ``threshold`` standard deviations (3σ) of that mode's mean; a mode is
*covered* if at least one high-quality sample is assigned to it; the reverse KL is
``KL(h ‖ uniform)`` where ``h`` is the normalised histogram of high-quality samples
over modes (as PacGAN's released code computes it). Evaluate 2,500 samples.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class ModeMetrics(NamedTuple):
  """Scalars of the 2D protocol.

  Attributes:
    modes: number of covered modes.
    hq: percentage (0–100) of samples that are high quality.
    reverse_kl: ``KL(h ‖ uniform)`` in nats over the high-quality histogram;
      ``log(num_modes)`` (the value for a single mode) when no sample is high
      quality, since the histogram is then undefined.
    counts: ``[num_modes]`` high-quality samples per mode.
  """
  modes: jax.Array
  hq: jax.Array
  reverse_kl: jax.Array
  counts: jax.Array


def mode_metrics(samples: jax.Array, means: jax.Array, sigma: float,
                 threshold: float = 3.0) -> ModeMetrics:
  """Scores samples against an isotropic mixture with common σ.

  Args:
    samples: ``[num_samples, dim]`` generated points.
    means: ``[num_modes, dim]`` mode centres.
    sigma: the modes' common standard deviation.
    threshold: high-quality radius in units of σ (the protocol's 3).

  Returns:
    A :class:`ModeMetrics`.
  """
  means = jnp.asarray(means, samples.dtype)
  sq_dist = jnp.sum(jnp.square(samples[:, None, :] - means[None, :, :]), axis=-1)
  nearest = jnp.argmin(sq_dist, axis=-1)
  high_quality = jnp.min(sq_dist, axis=-1) < (threshold * sigma) ** 2
  num_modes = means.shape[0]
  counts = jnp.zeros(num_modes, jnp.int32).at[nearest].add(
      high_quality.astype(jnp.int32))
  total = jnp.sum(counts)
  hist = counts / jnp.maximum(total, 1)
  # 0 log 0 = 0: empty modes contribute nothing to KL(h ‖ uniform).
  kl = jnp.sum(jnp.where(counts > 0, hist * jnp.log(hist * num_modes), 0.0))
  kl = jnp.where(total > 0, kl, jnp.log(num_modes))
  return ModeMetrics(
      modes=jnp.sum(counts > 0),
      hq=100.0 * jnp.mean(high_quality),
      reverse_kl=kl,
      counts=counts,
  )
