"""One pytree per adversarial model: its networks, optimisers and anchors.

:class:`AdversarialState` holds what the GAN, the AAE and ALI share: the
generator G, its anchor G° (eq. 26), its moving average, and the
discriminator D. :class:`GANState` adds G's optimiser; :class:`EncoderGANState`
adds the encoder E of the AAE and ALI, its anchor E°, and one optimiser over E
and G together.

Anchors are named ``<network>_anchor_params`` and move by pytree reassignment
(``state.replace(g_anchor_params=...)``), so an anchor's output costs at most
one extra forward pass (:func:`anchor_output`) and no parameter copy. A run
without the anchor's term keeps ``{}`` there.
"""

from typing import Any, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

PyTree = Any


class AdversarialState(flax.struct.PyTreeNode):
  """The fields every adversarial stage reads and writes.

  Attributes:
    step: number of completed stages.
    rng: base PRNG key; stage ``s`` uses ``fold_in(rng, s)`` (:func:`stage_keys`).
    g_params: generator parameters (the AAE's decoder).
    g_anchor_params: the anchor generator G°'s parameters, or ``{}``.
    g_batch_stats: the generator's BatchNorm statistics (``{}`` if none).
    g_average: an exponential moving average of G, ``{'params': ...,
      'batch_stats': ...}`` (:func:`averaged`), or ``{}`` in a run without one.
    d_params, d_batch_stats, d_opt_state: the discriminator.
    generator, discriminator, d_tx, latent_shape: static structure.
  """
  step: jax.Array
  rng: jax.Array
  g_params: PyTree
  g_anchor_params: PyTree
  g_batch_stats: PyTree
  g_average: PyTree
  d_params: PyTree
  d_batch_stats: PyTree
  d_opt_state: optax.OptState
  generator: nn.Module = flax.struct.field(pytree_node=False)
  discriminator: nn.Module = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  latent_shape: tuple = flax.struct.field(pytree_node=False)

  def generate(self, z: jax.Array) -> jax.Array:
    """G(z) in inference mode (the mean; BatchNorm on its running statistics)."""
    return apply_model(self.generator, self.g_params, self.g_batch_stats, z,
                       train=False)[0]


def _shared_fields(key: jax.Array, g_vars: PyTree, d_vars: PyTree, *,
                   g_anchor: bool, g_average: bool) -> dict:
  """The :class:`AdversarialState` fields of freshly initialised G and D."""
  return dict(
      step=jnp.zeros((), jnp.int32),
      rng=key,
      g_params=g_vars['params'],
      # Distinct buffers from G's, once, so that the state can be donated.
      g_anchor_params=jax.tree.map(jnp.copy, g_vars['params']) if g_anchor else {},
      g_batch_stats=g_vars.get('batch_stats', {}),
      g_average=initial_average(g_vars) if g_average else {},
      d_params=d_vars['params'],
      d_batch_stats=d_vars.get('batch_stats', {}),
  )


class GANState(AdversarialState):
  """The GAN's state: the shared fields and G's optimiser.

  G° always exists (``g_anchor_params`` starts equal to G): with λ = 0 it is
  still moved, at no cost, so that a λ = 0 and a λ > 0 run share one structure.

  Attributes:
    g_opt_state: the generator's optimiser state.
    g_tx: the generator's optimiser (static).
  """
  g_opt_state: optax.OptState
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

  @classmethod
  def create(cls, *, rng: jax.Array, generator: nn.Module,
             discriminator: nn.Module, g_tx: optax.GradientTransformation,
             d_tx: optax.GradientTransformation, latent_shape: Sequence[int],
             data_shape: Sequence[int], g_average: bool = False) -> 'GANState':
    """Initialises both networks; G° (and G's average, if kept) start equal to G."""
    init_key, g_key, d_key = jax.random.split(rng, 3)
    g_vars = generator.init(g_key, jnp.zeros((1, *latent_shape)), train=False)
    d_vars = discriminator.init(d_key, jnp.zeros((1, *data_shape)), train=False)
    return cls(
        **_shared_fields(init_key, g_vars, d_vars, g_anchor=True,
                         g_average=g_average),
        d_opt_state=d_tx.init(d_vars['params']),
        g_opt_state=g_tx.init(g_vars['params']),
        generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx,
        latent_shape=tuple(latent_shape))


class EncoderGANState(AdversarialState):
  """The AAE's and ALI's state: the shared fields, the encoder, one E/G optimiser.

  E and G are trained together (one optimiser over ``{'encoder',
  'generator'}``) against the latent D(z) of the AAE or the joint D(x, z) of
  ALI.

  Attributes:
    e_params, e_batch_stats: the encoder E(x).
    e_anchor_params: the AAE's anchor encoder E° (eq. 32's KL(p(z) ‖ p°(z))
      term, regularised like eq. 26), or ``{}``. ALI's anchor G° (eq. 40's
      KL(q(x|z) ‖ q°(x|z)) term) is the shared ``g_anchor_params``.
    ge_opt_state: the optimiser state of ``{'encoder': e, 'generator': g}``.
    encoder, ge_tx: static structure.
  """
  e_params: PyTree
  e_anchor_params: PyTree
  e_batch_stats: PyTree
  ge_opt_state: optax.OptState
  encoder: nn.Module = flax.struct.field(pytree_node=False)
  ge_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

  @classmethod
  def create(cls, *, rng: jax.Array, generator: nn.Module, encoder: nn.Module,
             discriminator: nn.Module, ge_tx: optax.GradientTransformation,
             d_tx: optax.GradientTransformation, latent_shape: Sequence[int],
             data_shape: Sequence[int], joint: bool, g_anchor: bool = False,
             e_anchor: bool = False, g_average: bool = False) -> 'EncoderGANState':
    """Initialises the three networks.

    ``joint``: D takes (x, z) (ALI) rather than z alone (AAE). ``g_anchor``,
    ``e_anchor``: keep an anchor G° or E°, starting equal to G or E.
    """
    init_key, g_key, e_key, d_key = jax.random.split(rng, 4)
    x = jnp.zeros((1, *data_shape))
    z = jnp.zeros((1, *latent_shape))
    g_vars = generator.init(g_key, z, train=False)
    e_vars = encoder.init(e_key, x, train=False)
    d_vars = discriminator.init(d_key, *((x, z) if joint else (z,)), train=False)
    ge_params = {'encoder': e_vars['params'], 'generator': g_vars['params']}
    return cls(
        **_shared_fields(init_key, g_vars, d_vars, g_anchor=g_anchor,
                         g_average=g_average),
        d_opt_state=d_tx.init(d_vars['params']),
        e_params=e_vars['params'],
        e_anchor_params=(jax.tree.map(jnp.copy, e_vars['params'])
                         if e_anchor else {}),
        e_batch_stats=e_vars.get('batch_stats', {}),
        ge_opt_state=ge_tx.init(ge_params),
        generator=generator, encoder=encoder, discriminator=discriminator,
        ge_tx=ge_tx, d_tx=d_tx, latent_shape=tuple(latent_shape))

  def encode(self, x: jax.Array) -> jax.Array:
    """E(x) in inference mode: the mean code."""
    return apply_model(self.encoder, self.e_params, self.e_batch_stats, x,
                       train=False)[0]


def stage_keys(state: AdversarialState) -> dict[str, jax.Array]:
  """Stage ``state.step``'s keys: on-device ``data``, the ``d`` and ``g`` phases.

  Every stage function (GAN, AAE, ALI) draws from these, so a run resumed from
  a checkpoint draws exactly what an uninterrupted run draws.
  """
  data, d, g = jax.random.split(jax.random.fold_in(state.rng, state.step), 3)
  return {'data': data, 'd': d, 'g': g}


def anchor_output(module: nn.Module, anchor_params: PyTree, batch_stats: PyTree,
                  *inputs: jax.Array, **kwargs) -> jax.Array:
  """An anchor network's output (G°(z) or E°(x)), held fixed.

  In training mode with the current network's BatchNorm statistics, so that
  an anchor equal to the current network gives exactly its output.
  """
  out, _ = apply_model(module, anchor_params, batch_stats, *inputs, train=True,
                       **kwargs)
  return jax.lax.stop_gradient(out)


def initial_average(g_vars: PyTree) -> PyTree:
  """G's average at the start: a copy of G's parameters and BatchNorm statistics."""
  return jax.tree.map(jnp.copy, {'params': g_vars['params'],
                                 'batch_stats': g_vars.get('batch_stats', {})})


def update_average(state: AdversarialState, decay: float) -> AdversarialState:
  """``state`` with G's average moved towards G: ``a ← decay·a + (1 − decay)·G``.

  Parameters and BatchNorm running statistics alike.
  """
  current = {'params': state.g_params, 'batch_stats': state.g_batch_stats}
  return state.replace(g_average=optax.incremental_update(
      current, state.g_average, step_size=1.0 - decay))


def averaged(state: AdversarialState) -> AdversarialState:
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


def mean_metrics(metrics: Sequence[dict]) -> dict:
  """The element-wise mean of a stage's per-update metric dicts."""
  return jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *metrics)
