"""Built-in 2D Gaussian mixtures of the mode-collapse protocol, sampled on device.

Geometry follows PacGAN (Lin et al., 2018, section 5.1) and VEEGAN (Srivastava et
al., 2017):

* ``ring8``: 8 modes at ``(cos 2πk/8, sin 2πk/8)``, radius 1, σ = 0.01;
* ``grid25``: 25 modes at ``(-4 + 2i, -4 + 2j)``, i, j ∈ {0..4}, σ = 0.05;

with equal weights and isotropic covariance σ²I.
"""

import dataclasses
import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Mixture2D:
  """An equally weighted isotropic Gaussian mixture in the plane.

  Attributes:
    name: dataset name, as the ``--dataset`` flag spells it.
    means: ``[num_modes, 2]`` mode centres.
    sigma: per-coordinate standard deviation of every mode.
  """
  name: str
  means: np.ndarray
  sigma: float

  @property
  def num_modes(self) -> int:
    return self.means.shape[0]

  def sample(self, key: jax.Array, num: int) -> jax.Array:
    """Draws ``num`` samples, shape ``[num, 2]``, on the default device."""
    mode_key, noise_key = jax.random.split(key)
    modes = jax.random.randint(mode_key, (num,), 0, self.num_modes)
    noise = jax.random.normal(noise_key, (num, 2))
    return jnp.asarray(self.means, jnp.float32)[modes] + self.sigma * noise


def ring8() -> Mixture2D:
  # k/8 of a turn, not linspace(0, 2π, 8), which would put modes 0 and 7 together.
  angles = 2 * math.pi * np.arange(8) / 8
  means = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
  return Mixture2D('ring8', means.astype(np.float32), 0.01)


def grid25() -> Mixture2D:
  ticks = -4.0 + 2.0 * np.arange(5)
  means = np.stack(np.meshgrid(ticks, ticks, indexing='ij'), axis=-1).reshape(-1, 2)
  return Mixture2D('grid25', means.astype(np.float32), 0.05)


DATASETS = {'ring8': ring8, 'grid25': grid25}


def get_mixture(name: str) -> Mixture2D:
  """Returns the built-in mixture called ``name`` (one of :data:`DATASETS`)."""
  if name not in DATASETS:
    raise ValueError(
        f'unknown 2D dataset {name!r}; choose one of {sorted(DATASETS)}')
  return DATASETS[name]()


@functools.cache
def real_sampler(name: str) -> Callable[[jax.Array, tuple], jax.Array]:
  """``(key, leading_shape) -> [*leading_shape, 2]`` samples of mixture ``name``.

  One function object per name, so that a jitted loop taking it as a static
  argument compiles once per dataset.
  """
  mixture = get_mixture(name)

  def sample(key: jax.Array, leading_shape: tuple) -> jax.Array:
    return mixture.sample(key, math.prod(leading_shape)).reshape(*leading_shape, 2)

  return sample
