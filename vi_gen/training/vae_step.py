"""The VAE's train state, jitted train step and importance-weighted evaluation.

One step: draw the batch's binarisation (for a Bernoulli decoder, dynamically:
x ~ Bernoulli(intensity), anew every time a batch is used), one reparameterised
z per example, and an Adam update on the mean negative ELBO (eq. 7). Every key
derives from ``fold_in(state.rng, state.step)``, so a resumed run draws what an
uninterrupted one draws. Under ``jax.set_mesh`` the batch is split over the
devices (:mod:`vi_gen.parallel`); the parameters stay replicated.
"""

import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from vi_gen import parallel
from vi_gen import xla
from vi_gen.losses import vae as vae_losses

PyTree = Any


class VAEState(flax.struct.PyTreeNode):
  step: jax.Array
  rng: jax.Array
  params: PyTree
  opt_state: optax.OptState
  model: nn.Module = flax.struct.field(pytree_node=False)
  tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  likelihood: str = flax.struct.field(pytree_node=False, default='bernoulli')

  @classmethod
  def create(cls, *, rng: jax.Array, model: nn.Module,
             tx: optax.GradientTransformation, image_shape, latent_dim: int,
             likelihood: str = 'bernoulli') -> 'VAEState':
    init_key, rng = jax.random.split(rng)
    params = model.init(init_key, jnp.zeros((1, *image_shape)),
                        jnp.zeros((1, latent_dim)))['params']
    return cls(step=jnp.zeros((), jnp.int32), rng=rng, params=params,
               opt_state=tx.init(params), model=model, tx=tx,
               likelihood=likelihood)


def decoder_log_prob(state: VAEState, params: PyTree) -> vae_losses.DecoderLogProb:
  """``(z, x) -> log q(x|z)`` per example, for the state's decoder and likelihood."""
  def log_prob(z, x):
    out = state.model.apply({'params': params}, z, method='decode')
    if state.likelihood == 'bernoulli':
      return vae_losses.bernoulli_log_likelihood(out, x, event_ndim=x.ndim - 1)
    mean, log_var = out
    return vae_losses.gaussian_log_likelihood(x, mean, log_var,
                                              event_ndim=x.ndim - 1)
  return log_prob


def prepare(state: VAEState, key: jax.Array, images: jax.Array) -> jax.Array:
  """Images in [0, 1] → the model's data: a fresh binarisation for Bernoulli."""
  if state.likelihood == 'bernoulli':
    return jax.random.bernoulli(key, images).astype(images.dtype)
  return images


def _step_keys(state: VAEState):
  return jax.random.split(jax.random.fold_in(state.rng, state.step))


def _train_step(state: VAEState, images: jax.Array):
  """One Adam step on the mean negative ELBO; returns ``(state, metrics)``.

  ``train_step`` is this step jitted, ``train_steps`` several under ``lax.scan``;
  both donate the state.

  Args:
    state: the current :class:`VAEState`.
    images: [B, H, W, C] intensities in [0, 1].
  """
  data_key, z_key = _step_keys(state)
  x = parallel.constrain_batch(prepare(state, data_key, images))

  def loss_fn(params):
    mean, log_var = state.model.apply({'params': params}, x, method='encode')
    loss, parts = vae_losses.negative_elbo(z_key, x, mean, log_var,
                                           decoder_log_prob(state, params))
    return loss.mean(), jax.tree.map(jnp.mean, parts)

  (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
  state = state.replace(step=state.step + 1, opt_state=opt_state,
                        params=optax.apply_updates(state.params, updates))
  return state, {'loss': loss, **parts, 'grad_norm': optax.tree.norm(grads)}


train_step = xla.jit(_train_step, donate_argnums=0)


@functools.partial(xla.jit, donate_argnums=0)
def train_steps(state: VAEState, images: jax.Array):
  """``len(images)`` steps in one call: :func:`train_step` under ``lax.scan``.

  At small batches the per-call work outside the step (dispatch, the Python
  loop) costs as much as the step; fusing steps removes it. The steps, their
  keys and their order are those of as many :func:`train_step` calls.

  Args:
    state: the current :class:`VAEState` (donated).
    images: [K, B, H, W, C] intensities in [0, 1], one batch per step.

  Returns:
    ``(state, metrics)``, the metrics summed over the K steps.
  """
  state, metrics = jax.lax.scan(_train_step, state, images)
  return state, jax.tree.map(lambda m: m.sum(0), metrics)


@functools.partial(xla.jit, static_argnames=('num_samples', 'chunk'))
def importance_weighted_nll(state: VAEState, images: jax.Array, key: jax.Array,
                            num_samples: int, chunk: int = 500) -> jax.Array:
  """−log q(x) estimated with ``num_samples`` importance samples, per example.

  The samples are taken ``chunk`` at a time and combined with ``logsumexp``, so
  memory grows with ``chunk``, not ``num_samples``. Bernoulli data are
  binarised once with ``key``.
  """
  if num_samples % chunk:
    chunk = num_samples
  data_key, sample_key = jax.random.split(key)
  x = parallel.constrain_batch(prepare(state, data_key, images))
  mean, log_var = state.model.apply({'params': state.params}, x, method='encode')
  log_prob = decoder_log_prob(state, state.params)

  def body(i, acc):
    bound = vae_losses.importance_weighted_bound(
        jax.random.fold_in(sample_key, i), x, mean, log_var, log_prob, chunk)
    # Each chunk's bound is log of a mean of `chunk` weights; combine as sums.
    return jnp.logaddexp(acc, bound + jnp.log(chunk))

  total = jax.lax.fori_loop(0, num_samples // chunk, body,
                            jnp.full(x.shape[:1], -jnp.inf, x.dtype))
  return -(total - jnp.log(num_samples))
