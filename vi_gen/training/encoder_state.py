"""One pytree for the AAE's and ALI's three networks: encoder, generator and D.

E and G are trained together (one optimiser over ``{'encoder', 'generator'}``)
against a discriminator with its own: the latent D(z) of the AAE or the joint
D(x, z) of ALI. The generator (the AAE's decoder) keeps the GAN state's names
and its ``generate`` method, so the experiment loop samples and scores both
models as it does a GAN.
"""

from typing import Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from vi_gen.training.state import PyTree, apply_model, initial_average


class EncoderGANState(flax.struct.PyTreeNode):
  """Everything an AAE or ALI stage reads and writes.

  Attributes:
    step: number of completed stages.
    rng: base PRNG key; stage ``s`` uses ``fold_in(rng, s)``.
    g_params, g_batch_stats: the generator (decoder) G(z).
    g_average: G's exponential moving average, as in ``GANState``, or ``{}``.
    g_anchor_params: ALI's anchor generator G° (eq. 40's KL(q(x|z) ‖ q°(x|z))
      term, regularised like eq. 26): G before the previous E/G update, moved
      by pytree reassignment. ``{}`` in a run without that term.
    e_params, e_batch_stats: the encoder E(x).
    e_anchor_params: the AAE's anchor encoder E° (eq. 32's KL(p(z) ‖ p°(z))
      term, regularised like eq. 26), as ``g_anchor_params`` is for ALI.
    ge_opt_state: the optimiser state of ``{'encoder': e, 'generator': g}``.
    d_params, d_batch_stats, d_opt_state: the discriminator.
    generator, encoder, discriminator, ge_tx, d_tx, latent_shape: static.
  """
  step: jax.Array
  rng: jax.Array
  g_params: PyTree
  g_anchor_params: PyTree
  g_batch_stats: PyTree
  g_average: PyTree
  e_params: PyTree
  e_anchor_params: PyTree
  e_batch_stats: PyTree
  ge_opt_state: optax.OptState
  d_params: PyTree
  d_batch_stats: PyTree
  d_opt_state: optax.OptState
  generator: nn.Module = flax.struct.field(pytree_node=False)
  encoder: nn.Module = flax.struct.field(pytree_node=False)
  discriminator: nn.Module = flax.struct.field(pytree_node=False)
  ge_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  latent_shape: tuple = flax.struct.field(pytree_node=False)

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
    # Anchors start as distinct buffers, once, so that the state can be donated.
    copy = lambda params: jax.tree.map(jnp.copy, params)
    return cls(
        step=jnp.zeros((), jnp.int32), rng=init_key,
        g_params=g_vars['params'],
        g_anchor_params=copy(g_vars['params']) if g_anchor else {},
        g_batch_stats=g_vars.get('batch_stats', {}),
        g_average=initial_average(g_vars) if g_average else {},
        e_params=e_vars['params'],
        e_anchor_params=copy(e_vars['params']) if e_anchor else {},
        e_batch_stats=e_vars.get('batch_stats', {}),
        ge_opt_state=ge_tx.init(ge_params),
        d_params=d_vars['params'], d_batch_stats=d_vars.get('batch_stats', {}),
        d_opt_state=d_tx.init(d_vars['params']),
        generator=generator, encoder=encoder, discriminator=discriminator,
        ge_tx=ge_tx, d_tx=d_tx, latent_shape=tuple(latent_shape))

  def generate(self, z: jax.Array) -> jax.Array:
    """G(z) in inference mode: the mean, BatchNorm on running statistics."""
    return apply_model(self.generator, self.g_params, self.g_batch_stats, z,
                       train=False)[0]

  def encode(self, x: jax.Array) -> jax.Array:
    """E(x) in inference mode: the mean code."""
    return apply_model(self.encoder, self.e_params, self.e_batch_stats, x,
                       train=False)[0]
