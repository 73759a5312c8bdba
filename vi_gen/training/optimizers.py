"""Optimisers that published baselines used and optax does not offer as such."""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax


class IWAEAdamState(NamedTuple):
  count: chex.Array  # updates made so far; Burda et al.'s timestep is count + 1
  mu: optax.Updates
  nu: optax.Updates


def iwae_adam(learning_rate: optax.ScalarOrSchedule, b1: float = 0.99,
              b2: float = 0.999, eps: float = 1e-4) -> optax.GradientTransformation:
  """The Adam of Burda et al.'s released IWAE code (``yburda/iwae``, ``optimizers.py``).

  It differs from ``optax.adam`` in four ways, all kept here:

  * β₁ = 0.99 (optax: 0.9) and ε = 1e-4 added to √ν (optax: 1e-8);
  * the second moments start at 1, not 0, which damps the first updates;
  * the step size is ``lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ)`` with t = 1, 2, … ;
  * Theano applies all updates at once from the old values, so update t moves
    the parameters by the moments *before* gradient t is folded in: the first
    update is zero and each later one lags one gradient behind.

  Args:
    learning_rate: a constant or a schedule of the update count (0, 1, …).
    b1, b2, eps: as above.

  Returns:
    An optax transformation whose updates are to be added to the parameters.
  """
  def init_fn(params):
    return IWAEAdamState(count=jnp.zeros([], jnp.int32),
                         mu=jax.tree.map(jnp.zeros_like, params),
                         nu=jax.tree.map(jnp.ones_like, params))

  def update_fn(updates, state, params=None):
    del params
    lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
    t = (state.count + 1).astype(jnp.float32)
    step = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    new_updates = jax.tree.map(lambda m, v: -step * m / (jnp.sqrt(v) + eps),
                               state.mu, state.nu)
    mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, updates)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, updates)
    return new_updates, IWAEAdamState(count=state.count + 1, mu=mu, nu=nu)

  return optax.GradientTransformation(init_fn, update_fn)
