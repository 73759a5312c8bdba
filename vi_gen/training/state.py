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
  reassignment (``state.replace(anchor_params=...)``), so G°(z) costs at most one
  extra forward pass (none where the stage already has it,
  :meth:`~vi_gen.training.schedule.Schedule.known_anchor_output`) and no
  parameter copy.

  Attributes:
    step: number of completed stages.
    rng: base PRNG key; stage ``s`` uses ``fold_in(rng, s)``.
    g_params: generator parameters.
    anchor_params: the anchor generator G°'s parameters.
    g_batch_stats: the generator's BatchNorm statistics (``{}`` if none).
    g_average: an exponential moving average of G, ``{'params': ...,
      'batch_stats': ...}`` (:func:`averaged`), or ``{}`` in a run without one.
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
  g_average: PyTree
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
             data_shape: Sequence[int], g_average: bool = False) -> 'GANState':
    """Initialises both networks; G° (and G's average, if kept) start equal to G."""
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
        g_average=initial_average(g_vars) if g_average else {},
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


def initial_average(g_vars: PyTree) -> PyTree:
  """G's average at the start: a copy of G's parameters and BatchNorm statistics."""
  return jax.tree.map(jnp.copy, {'params': g_vars['params'],
                                 'batch_stats': g_vars.get('batch_stats', {})})


def update_average(state, decay: float):
  """``state`` with G's average moved towards G: ``a ← decay·a + (1 − decay)·G``.

  Parameters and BatchNorm running statistics alike. For a :class:`GANState`
  or an ``EncoderGANState`` that keeps an average.
  """
  current = {'params': state.g_params, 'batch_stats': state.g_batch_stats}
  return state.replace(g_average=optax.incremental_update(
      current, state.g_average, step_size=1.0 - decay))


def averaged(state):
  """``state`` with G replaced by its average: what the run scores and shows.

  Only the generator changes (an ALI or AAE encoder stays the current one);
  no parameters are copied.
  """
  return state.replace(g_params=state.g_average['params'],
                       g_batch_stats=state.g_average['batch_stats'])


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
