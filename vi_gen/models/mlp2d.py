"""MLP generator and maxout discriminator for the 2D mode-collapse protocol.

Default sizes are PacGAN's 2D experiments (Lin et al., 2018, section 5.1, after
VEEGAN): the generator maps z ∈ R² through four hidden layers of 400 units, each
linear (no bias) → BatchNorm → ReLU, to a linear output in R²; the discriminator
has three linear-maxout layers of 200 units with 5 pieces each and a linear logit.
All weights start from N(0, 0.02²), biases from 0. Both widths and depths are
arguments, and the generator's BatchNorm can be turned off.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

_INIT = nn.initializers.normal(stddev=0.02)


def maxout(h: jax.Array, hidden: int, pieces: int) -> jax.Array:
  """One linear-maxout layer: ``hidden`` units, each the max of ``pieces`` linears.

  Call it inside a module's compact method; its Dense layer belongs to that module.

  The maximum is taken by its index rather than with ``jnp.max``: the same
  values (a tie, of probability zero, goes to the first piece), but
  ``jnp.max``'s gradient divides by how many entries equal the maximum, and in
  the vmapped many-seed stage loop compiled without XLA's optimisations (as the
  unit tests run) that gave NaN gradients from the third stage on; by index
  there is no division, and the default 2D stage loop ran 1.38× faster
  (116 against 84 stages/s on 2 CPU cores, one run, three repetitions each).
  """
  h = nn.Dense(hidden * pieces, kernel_init=_INIT)(h)
  h = h.reshape(*h.shape[:-1], hidden, pieces)
  best = jnp.argmax(h, axis=-1, keepdims=True)
  return jnp.take_along_axis(h, best, axis=-1)[..., 0]


class MLPGenerator(nn.Module):
  """G(z): ``[batch, latent]`` → ``[batch, out_dim]``.

  Attributes:
    hidden: units per hidden layer (PacGAN: 400).
    depth: number of hidden layers (PacGAN: 4).
    out_dim: data dimension.
    batch_norm: BatchNorm after each hidden linear layer (PacGAN: on).
    bn_momentum: decay of BatchNorm's running statistics (PacGAN: 0.95).
  """
  hidden: int = 400
  depth: int = 4
  out_dim: int = 2
  batch_norm: bool = True
  bn_momentum: float = 0.95

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    h = z
    for _ in range(self.depth):
      # The bias is redundant in front of BatchNorm's shift.
      h = nn.Dense(self.hidden, use_bias=not self.batch_norm, kernel_init=_INIT)(h)
      if self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train,
                         momentum=self.bn_momentum)(h)
      h = nn.relu(h)
    return nn.Dense(self.out_dim, kernel_init=_INIT)(h)


class MaxoutDiscriminator(nn.Module):
  """D's logit: ``[batch, dim]`` → ``[batch]``.

  Attributes:
    hidden: units per maxout layer (PacGAN: 200).
    depth: number of maxout layers (PacGAN: 3).
    pieces: linear pieces per maxout unit (PacGAN: 5).
  """
  hidden: int = 200
  depth: int = 3
  pieces: int = 5

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train  # No train-time behaviour; the argument keeps D's interface uniform.
    h = x
    for _ in range(self.depth):
      h = maxout(h, self.hidden, self.pieces)
    return nn.Dense(1, kernel_init=_INIT)(h)[..., 0]
