"""AAE and ALI stages: ``d_steps`` discriminator updates, then one E/G update.

(ALI can instead take its one D update and the E/G update together:
``ALISchedule.simultaneous``.)

Pure functions ``(state, real, schedule) -> (state, metrics)`` with the
signature of :func:`vi_gen.training.stage.gan_stage`, so that the same compiled
loops (:func:`~vi_gen.training.stage.train_stages`,
:func:`~vi_gen.training.stage.train_stage_on_batch`) run them. ``real`` is
``[d_steps, batch, *data_shape]``; the E/G update uses the last of those
batches. Every key derives from ``fold_in(state.rng, state.step)``; latent and
noise draws are split over the mesh like the batch (:mod:`vi_gen.parallel`).
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax

from vi_gen import parallel
from vi_gen.losses import aae as aae_losses
from vi_gen.losses import ali as ali_losses
from vi_gen.losses import gan as gan_losses
from vi_gen.training.state import (EncoderGANState, anchor_output, apply_model,
                                   mean_metrics, stage_keys)


@dataclasses.dataclass(frozen=True)
class ALISchedule:
  """An ALI stage.

  Attributes:
    loss: the E/G loss, a key of ``losses.ali.GENERATOR_LOSSES``: ``vi``
      (eq. 41, the paper's), ``minimax`` (eq. 42) or ``nonsaturating`` (eq. 43).
    d_steps: D updates per stage.
    gaussian_encoder: E(x) + σ_E ⊙ ε (``models.encoders.GaussianOutput``)
      rather than the deterministic E(x).
    gaussian_generator: G(z) + σ_G ⊙ ε rather than G(z).
    noise_input_encoder: E is a ``models.encoders.NoiseInputEncoder``, E(x, ε)
      with ε ~ N(0, I) of x's shape drawn afresh for each pair; excludes
      ``gaussian_encoder``.
    reg_lambda: λ on ``‖G(z) − G°(z)‖²`` (element-wise mean) added to the E/G
      loss, G° being G before the previous E/G update (the state's
      ``g_anchor_params``). Eq. 40 keeps the term ``E_z KL(q(x|z) ‖ q°(x|z))``
      that eq. 41 drops; with a narrow Gaussian around G(z) it is this
      penalty, as eq. 26 is for the GAN. 0: eq. 41 (or 42, 43) alone. Eq. 40's
      other dropped term, on the encoder, is not included.
    simultaneous: D and E/G step together from one forward pass on one draw,
      each on its own loss at the current parameters, as ALI's reference code
      (``ali_algorithm``) and PacGAN's ALI runs train; needs ``d_steps == 1``.
      Otherwise the D update comes first and E/G then face the updated D on
      fresh draws.
    r1_gamma: γ of an R1 penalty on D, ``γ/2 · ‖∇_{x,z} logit D(x, E(x))‖²``
      averaged over encoder pairs and added to eq. 38
      (``losses.ali.input_gradient_penalty``). A stabiliser of D from outside
      the paper (Mescheder et al. 2018); it leaves the E/G loss as chosen.
      The gradient is of the batch's summed logits, so it is per example when
      D has no BatchNorm (the 2D joint D has none). 0: eq. 38 alone.
  """
  loss: str = 'vi'
  d_steps: int = 1
  gaussian_encoder: bool = False
  gaussian_generator: bool = False
  noise_input_encoder: bool = False
  reg_lambda: float = 0.0
  simultaneous: bool = False
  r1_gamma: float = 0.0

  def __post_init__(self):
    if self.loss not in ali_losses.GENERATOR_LOSSES:
      raise ValueError(f'unknown ALI loss {self.loss!r}; choose one of '
                       f'{", ".join(ali_losses.GENERATOR_LOSSES)}')
    if self.gaussian_encoder and self.noise_input_encoder:
      raise ValueError('an encoder with input noise is already stochastic; '
                       'gaussian_encoder does not apply to it')
    if self.d_steps < 1:
      raise ValueError(f'd_steps must be >= 1, got {self.d_steps}')
    if not self.reg_lambda >= 0:
      raise ValueError(f'reg_lambda must be >= 0, got {self.reg_lambda}')
    if not self.r1_gamma >= 0:
      raise ValueError(f'r1_gamma must be >= 0, got {self.r1_gamma}')
    if self.simultaneous and self.d_steps != 1:
      raise ValueError(f'simultaneous updates make one D update per stage; '
                       f'got d_steps={self.d_steps}')


@dataclasses.dataclass(frozen=True)
class AAESchedule:
  """An AAE stage.

  Attributes:
    recon_lambda: λ of eq. 34, on the element-wise mean squared error.
    d_steps: latent-D updates per stage.
    reg_lambda: λ on ``‖E(x) − E°(x)‖²`` (element-wise mean) added to eq. 34,
      E° being E before the previous E/G update (the state's
      ``e_anchor_params``): eq. 32's ``KL(p(z) ‖ p°(z))``, which eq. 33 drops,
      with a narrow Gaussian around E(x), as eq. 26 is for the GAN.
  """
  recon_lambda: float = 10.0
  d_steps: int = 1
  reg_lambda: float = 0.0

  def __post_init__(self):
    if not self.recon_lambda >= 0:
      raise ValueError(f'recon_lambda must be >= 0, got {self.recon_lambda}')
    if not self.reg_lambda >= 0:
      raise ValueError(f'reg_lambda must be >= 0, got {self.reg_lambda}')
    if self.d_steps < 1:
      raise ValueError(f'd_steps must be >= 1, got {self.d_steps}')


def _normal(key: jax.Array, shape) -> jax.Array:
  return parallel.constrain_batch(jax.random.normal(key, shape))


def _apply_discriminator(state: EncoderGANState, grads, stats):
  updates, opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
  state = state.replace(d_params=optax.apply_updates(state.d_params, updates),
                        d_batch_stats=stats, d_opt_state=opt_state)
  return state, {'d_grad_norm': optax.tree.norm(grads)}


def _apply_encoder_generator(state: EncoderGANState, grads, e_stats, g_stats):
  ge = {'encoder': state.e_params, 'generator': state.g_params}
  updates, opt_state = state.ge_tx.update(grads, state.ge_opt_state, ge)
  ge = optax.apply_updates(ge, updates)
  state = state.replace(e_params=ge['encoder'], g_params=ge['generator'],
                        e_batch_stats=e_stats, g_batch_stats=g_stats,
                        ge_opt_state=opt_state)
  return state, {'ge_grad_norm': optax.tree.norm(grads)}


def _update_discriminator(state: EncoderGANState, loss_fn):
  """One D step on ``loss_fn(d_params) -> (loss, (stats, aux))``."""
  (loss, (stats, aux)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.d_params)
  state, norms = _apply_discriminator(state, grads, stats)
  return state, {'d_loss': loss, **aux, **norms}


def _update_encoder_generator(state: EncoderGANState, loss_fn):
  """One joint E/G step on ``loss_fn(ge) -> (loss, (e_stats, g_stats, aux))``."""
  ge = {'encoder': state.e_params, 'generator': state.g_params}
  (loss, (e_stats, g_stats, aux)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(ge)
  state, norms = _apply_encoder_generator(state, grads, e_stats, g_stats)
  return state, {**aux, 'ge_total': loss, **norms}


def _stage(state, real, d_steps, d_update, ge_update):
  keys = stage_keys(state)  # the GAN stage's: 'd' for D's phase, 'g' for E/G's
  d_metrics = []
  for i, key in enumerate(jax.random.split(keys['d'], d_steps)):
    state, m = d_update(state, real[i], key)
    d_metrics.append(m)
  state, ge_metrics = ge_update(state, real[-1], keys['g'])
  return state.replace(step=state.step + 1), {**mean_metrics(d_metrics),
                                              **ge_metrics}


# ALI (eqs. 35–43).

def _ali_noise(state: EncoderGANState, x: jax.Array, key: jax.Array,
               schedule: ALISchedule):
  """The draws of one pass: z ~ q(z), and E's and G's noise as keyword arguments."""
  z_key, e_key, g_key = jax.random.split(key, 3)
  batch = x.shape[0]
  z = _normal(z_key, (batch, *state.latent_shape))
  e_kwargs = {}  # E's noise: on its output (Gaussian) or beside its input.
  if schedule.gaussian_encoder:
    e_kwargs = {'noise': _normal(e_key, (batch, *state.latent_shape))}
  elif schedule.noise_input_encoder:
    e_kwargs = {'noise': _normal(e_key, x.shape)}
  g_kwargs = ({'noise': _normal(g_key, x.shape)}
              if schedule.gaussian_generator else {})
  return z, e_kwargs, g_kwargs


def _ali_pairs(state: EncoderGANState, ge, x: jax.Array, noise):
  """The encoder pair (x, E(x)) and the generator pair (G(z), z), training mode."""
  z, e_kwargs, g_kwargs = noise
  code, e_stats = apply_model(state.encoder, ge['encoder'], state.e_batch_stats,
                              x, train=True, **e_kwargs)
  fake, g_stats = apply_model(state.generator, ge['generator'],
                              state.g_batch_stats, z, train=True, **g_kwargs)
  return (x, code), (fake, z), e_stats, g_stats


def _joint_logits(state, d_params, d_stats, encoder_pair, generator_pair):
  enc_logits, d_stats = apply_model(state.discriminator, d_params, d_stats,
                                    *encoder_pair, train=True)
  gen_logits, d_stats = apply_model(state.discriminator, d_params, d_stats,
                                    *generator_pair, train=True)
  return enc_logits, gen_logits, d_stats


def ali_stage(state: EncoderGANState, real: jax.Array, schedule: ALISchedule):
  """One ALI stage: ``d_steps`` updates of eq. 38, then one of ``schedule.loss``.

  With ``schedule.simultaneous`` the one D update and the E/G update are taken
  together from the same pass instead.

  Returns:
    The new state and metrics: ``d_loss`` (eq. 38, plus ``r1_gamma / 2``
    times ``d_r1``, the mean R1 norm, where ``r1_gamma > 0``), ``d_encoder``
    and ``d_generator`` (D's mean probability on each kind of pair), ``g_loss``
    (the chosen E/G loss), ``g_drift`` (with ``reg_lambda > 0``), ``ge_total``
    (what E/G minimised) and gradient norms.
  """
  ge_now = lambda s: {'encoder': s.e_params, 'generator': s.g_params}
  reg = schedule.reg_lambda > 0

  def d_terms(enc, gen, d_params, encoder_pair):
    loss = ali_losses.discriminator_loss(enc, gen).mean()
    aux = {'d_encoder': jnp.mean(jax.nn.sigmoid(enc)),
           'd_generator': jnp.mean(jax.nn.sigmoid(gen))}
    if schedule.r1_gamma > 0:
      # On the pairs as data: no gradient reaches E through the penalty.
      x, code = jax.lax.stop_gradient(encoder_pair)
      logit_sum = lambda x, code: apply_model(
          state.discriminator, d_params, state.d_batch_stats, x, code,
          train=True)[0].sum()
      aux['d_r1'] = ali_losses.input_gradient_penalty(
          *jax.grad(logit_sum, argnums=(0, 1))(x, code)).mean()
      loss = loss + 0.5 * schedule.r1_gamma * aux['d_r1']
    return loss, aux

  def anchor_samples(state, noise):
    # G°(z) on the same z and noise, in G's BatchNorm mode: G° == G gives
    # G°(z) == G(z) exactly (as in the GAN stage).
    if not reg:
      return None
    z, _, g_kwargs = noise
    return anchor_output(state.generator, state.g_anchor_params,
                         state.g_batch_stats, z, **g_kwargs)

  def ge_terms(enc, gen, fake, anchor_fake):
    total = ali_losses.variational_generator_loss(
        schedule.loss, enc, gen, fake, anchor_fake, schedule.reg_lambda).mean()
    aux = {'g_loss': ali_losses.GENERATOR_LOSSES[schedule.loss](enc, gen).mean()}
    if reg:
      aux['g_drift'] = gan_losses.generator_drift(fake, anchor_fake).mean()
    return total, aux

  def move_anchor(new_state, state):
    # The parameters this update started from become G° (a pytree swap).
    return new_state.replace(g_anchor_params=state.g_params) if reg else new_state

  def d_update(state, x, key):
    encoder_pair, generator_pair, _, _ = jax.tree.map(
        jax.lax.stop_gradient,
        _ali_pairs(state, ge_now(state), x, _ali_noise(state, x, key, schedule)))

    def loss_fn(d_params):
      enc, gen, stats = _joint_logits(state, d_params, state.d_batch_stats,
                                      encoder_pair, generator_pair)
      loss, aux = d_terms(enc, gen, d_params, encoder_pair)
      return loss, (stats, aux)
    return _update_discriminator(state, loss_fn)

  def ge_update(state, x, key):
    noise = _ali_noise(state, x, key, schedule)
    anchor_fake = anchor_samples(state, noise)

    def loss_fn(ge):
      encoder_pair, generator_pair, e_stats, g_stats = _ali_pairs(
          state, ge, x, noise)
      enc, gen, _ = _joint_logits(state, state.d_params, state.d_batch_stats,
                                  encoder_pair, generator_pair)
      total, aux = ge_terms(enc, gen, generator_pair[0], anchor_fake)
      return total, (e_stats, g_stats, aux)

    new_state, metrics = _update_encoder_generator(state, loss_fn)
    return move_anchor(new_state, state), metrics

  if not schedule.simultaneous:
    return _stage(state, real, schedule.d_steps, d_update, ge_update)

  # Simultaneous: one pass, both losses, a gradient of each from its vjp.
  x = real[0]
  noise = _ali_noise(state, x, stage_keys(state)['d'], schedule)
  anchor_fake = anchor_samples(state, noise)

  def losses(d_params, ge):
    encoder_pair, generator_pair, e_stats, g_stats = _ali_pairs(state, ge, x, noise)
    enc, gen, d_stats = _joint_logits(state, d_params, state.d_batch_stats,
                                      encoder_pair, generator_pair)
    d_loss, d_aux = d_terms(enc, gen, d_params, encoder_pair)
    ge_total, ge_aux = ge_terms(enc, gen, generator_pair[0], anchor_fake)
    return (d_loss, ge_total), (e_stats, g_stats, d_stats, {**d_aux, **ge_aux})

  (d_loss, ge_total), vjp, (e_stats, g_stats, d_stats, aux) = jax.vjp(
      losses, state.d_params, ge_now(state), has_aux=True)
  one, zero = jnp.ones_like(d_loss), jnp.zeros_like(d_loss)
  d_grads, _ = vjp((one, zero))
  _, ge_grads = vjp((zero, one))
  new_state, d_norms = _apply_discriminator(state, d_grads, d_stats)
  new_state, ge_norms = _apply_encoder_generator(new_state, ge_grads, e_stats,
                                                 g_stats)
  new_state = move_anchor(new_state, state)
  return new_state.replace(step=state.step + 1), {
      'd_loss': d_loss, 'ge_total': ge_total, **aux, **d_norms, **ge_norms}


# AAE (eqs. 30–34).

def aae_stage(state: EncoderGANState, real: jax.Array, schedule: AAESchedule):
  """One AAE stage: ``d_steps`` updates of eq. 30, then one of eq. 34.

  Returns:
    The new state and metrics: ``d_loss`` (eq. 30), ``d_codes`` and ``d_prior``
    (D's mean probability of "from the prior" on codes and on prior draws),
    ``g_loss`` (E's adversarial term), ``train_reconstruction`` (the
    element-wise mean squared error on the batch; the evaluation's
    ``reconstruction`` is on held-out data), ``e_drift`` (with
    ``reg_lambda > 0``), ``ge_total`` (what E and G minimised) and gradient
    norms.
  """
  reg = schedule.reg_lambda > 0

  def d_update(state, x, key):
    codes, _ = apply_model(state.encoder, state.e_params, state.e_batch_stats, x,
                           train=True)
    codes = jax.lax.stop_gradient(codes)
    prior = _normal(key, codes.shape)

    def loss_fn(d_params):
      code_logits, stats = apply_model(state.discriminator, d_params,
                                       state.d_batch_stats, codes, train=True)
      prior_logits, stats = apply_model(state.discriminator, d_params, stats,
                                        prior, train=True)
      loss = aae_losses.latent_discriminator_loss(code_logits, prior_logits).mean()
      return loss, (stats, {'d_codes': jnp.mean(jax.nn.sigmoid(code_logits)),
                            'd_prior': jnp.mean(jax.nn.sigmoid(prior_logits))})
    return _update_discriminator(state, loss_fn)

  def ge_update(state, x, key):
    del key
    anchor_codes = (anchor_output(state.encoder, state.e_anchor_params,
                                  state.e_batch_stats, x) if reg else None)

    def loss_fn(ge):
      codes, e_stats = apply_model(state.encoder, ge['encoder'],
                                   state.e_batch_stats, x, train=True)
      recon, g_stats = apply_model(state.generator, ge['generator'],
                                   state.g_batch_stats, codes, train=True)
      logits, _ = apply_model(state.discriminator, state.d_params,
                              state.d_batch_stats, codes, train=True)
      total = aae_losses.variational_autoencoder_loss(
          logits, x, recon, schedule.recon_lambda, codes, anchor_codes,
          schedule.reg_lambda).mean()
      aux = {'g_loss': aae_losses.encoder_adversarial_loss(logits).mean(),
             'train_reconstruction': aae_losses.reconstruction_error(x, recon).mean()}
      if reg:
        aux['e_drift'] = gan_losses.generator_drift(codes, anchor_codes).mean()
      return total, (e_stats, g_stats, aux)

    new_state, metrics = _update_encoder_generator(state, loss_fn)
    if reg:  # The parameters this update started from become E° (a pytree swap).
      new_state = new_state.replace(e_anchor_params=state.e_params)
    return new_state, metrics

  return _stage(state, real, schedule.d_steps, d_update, ge_update)
