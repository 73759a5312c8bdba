"""One pytree for a GAN's two networks, their optimisers, and the anchor G°."""

from typing import Any, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

PyTree = Any


class GANState(flax.struct.PyTreeNode):
  """Everything a GAN stage reads and writes.

  ``anchor_params`` holds G°'s parameters (eq. 26). They move by pytree
  reassignment (``state.replace(anchor_params=...)``), so G°(z) costs one extra
  forward pass and no parameter copy.

  Attributes:
    step: number of completed stages.
    rng: base PRNG key; stage ``s`` uses ``fold_in(rng, s)``.
    g_params: generator parameters.
    anchor_params: the anchor generator G°'s parameters.
    g_batch_stats: the generator's BatchNorm statistics (``{}`` if none).
    g_opt_state: the generator's optimiser state.
    d_params: discriminator parameters.
    d_batch_stats: the discriminator's BatchNorm statistics (``{}`` if none).
    d_opt_state: the discriminator's optimiser state.
    generator, discriminator, g_tx, d_tx, latent_shape: static structure.
  """
  step: jax.Array
  rng: jax.Array
  g_params: PyTree
  anchor_params: PyTree
  g_batch_stats: PyTree
  g_opt_state: optax.OptState
  d_params: PyTree
  d_batch_stats: PyTree
  d_opt_state: optax.OptState
  generator: nn.Module = flax.struct.field(pytree_node=False)
  discriminator: nn.Module = flax.struct.field(pytree_node=False)
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  latent_shape: tuple = flax.struct.field(pytree_node=False)

  @classmethod
  def create(cls, *, rng: jax.Array, generator: nn.Module,
             discriminator: nn.Module, g_tx: optax.GradientTransformation,
             d_tx: optax.GradientTransformation, latent_shape: Sequence[int],
             data_shape: Sequence[int]) -> 'GANState':
    """Initialises both networks; G° starts equal to G."""
    init_key, g_key, d_key = jax.random.split(rng, 3)
    g_vars = generator.init(g_key, jnp.zeros((1, *latent_shape)), train=False)
    d_vars = discriminator.init(d_key, jnp.zeros((1, *data_shape)), train=False)
    g_params, d_params = g_vars['params'], d_vars['params']
    return cls(
        step=jnp.zeros((), jnp.int32),
        rng=init_key,
        g_params=g_params,
        # Distinct buffers from G's, once, so that the state can be donated.
        anchor_params=jax.tree.map(jnp.copy, g_params),
        g_batch_stats=g_vars.get('batch_stats', {}),
        g_opt_state=g_tx.init(g_params),
        d_params=d_params,
        d_batch_stats=d_vars.get('batch_stats', {}),
        d_opt_state=d_tx.init(d_params),
        generator=generator,
        discriminator=discriminator,
        g_tx=g_tx,
        d_tx=d_tx,
        latent_shape=tuple(latent_shape),
    )

  def generate(self, z: jax.Array) -> jax.Array:
    """G(z) in inference mode (BatchNorm uses its running statistics)."""
    return apply_model(self.generator, self.g_params, self.g_batch_stats, z,
                       train=False)[0]


def apply_model(module: nn.Module, params: PyTree, batch_stats: PyTree,
                *inputs: jax.Array, train: bool,
                **kwargs) -> tuple[jax.Array, PyTree]:
  """Applies a Linen module; returns its output and updated BatchNorm statistics.

  ``inputs`` are the module's positional inputs (one for G and D, two for ALI's
  D(x, z)); ``kwargs`` go to the module too (e.g. ``noise=``). In training mode
  BatchNorm normalises with the batch's statistics and the returned running
  statistics are updated; otherwise they come back unchanged.
  """
  variables = {'params': params}
  if batch_stats:
    variables['batch_stats'] = batch_stats
  if train and batch_stats:
    out, updates = module.apply(variables, *inputs, train=True,
                                mutable=['batch_stats'], **kwargs)
    return out, updates['batch_stats']
  return module.apply(variables, *inputs, train=train, **kwargs), batch_stats
