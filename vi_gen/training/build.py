"""From a configuration to what trains: networks, optimisers, state, stage.

``schedule(config)`` and ``stage_fn(config)`` give the static description of a
stage and the pure function that runs it; ``create_state(config)`` the initial
:mod:`~vi_gen.training.state` pytree. The VAE's: ``vae_model``,
``vae_learning_rate`` and ``create_vae_state``.
"""

import functools

import jax
import numpy as np
import optax

from vi_gen.data import images as image_data
from vi_gen.models import encoders
from vi_gen.models import vae as vae_models
from vi_gen.models.dcgan import DCGANDiscriminator, DCGANGenerator
from vi_gen.models.mlp2d import MaxoutDiscriminator, MLPGenerator
from vi_gen.training import encoder_stage
from vi_gen.training import optimizers
from vi_gen.training import stage as stage_lib
from vi_gen.training import vae_step
from vi_gen.training.config import GANConfig, VAEConfig
from vi_gen.training.schedule import Schedule
from vi_gen.training.state import EncoderGANState, GANState

# ALI's 'pacgan' encoder has this many hidden layers (of g_hidden units), as
# PacGAN's has.
PACGAN_ALI_ENCODER_DEPTH = 2

LR_SCHEDULES = ('constant', 'iwae')
OPTIMIZERS = {'adam': optax.adam, 'iwae_adam': optimizers.iwae_adam}


def schedule(config: GANConfig):
  """The stage's static description: a :class:`Schedule`, or the AAE's or ALI's.

  Raises:
    ValueError: for a combination the stage cannot run.
  """
  if config.model == 'ali':
    return encoder_stage.ALISchedule(
        loss=config.ali_loss, d_steps=config.d_steps,
        gaussian_encoder=config.gaussian_encoder,
        gaussian_generator=config.gaussian_generator,
        noise_input_encoder=config.ali_networks == 'pacgan',
        reg_lambda=config.reg_lambda, simultaneous=config.ali_simultaneous,
        r1_gamma=config.ali_r1)
  if config.model == 'aae':
    return encoder_stage.AAESchedule(recon_lambda=config.recon_lambda,
                                     d_steps=config.d_steps,
                                     reg_lambda=config.reg_lambda)
  return Schedule(reg_lambda=config.reg_lambda, anchor=config.anchor,
                  d_steps=config.d_steps, g_steps=config.g_steps,
                  g_repeats=config.g_repeats)


def stage_fn(config: GANConfig) -> stage_lib.StageFn:
  """The pure stage function ``(state, real, schedule) -> (state, metrics)``."""
  fn = {'gan': stage_lib.gan_stage, 'aae': encoder_stage.aae_stage,
        'ali': encoder_stage.ali_stage}[config.model]
  return stage_lib.averaging(fn, config.g_ema) if config.g_ema else fn


def learning_rates(config: GANConfig) -> tuple[optax.ScalarOrSchedule,
                                               optax.ScalarOrSchedule]:
  """The (G or E/G, D) Adam learning rates: numbers, or schedules over updates.

  A stage makes ``g_steps × g_repeats`` G updates (AAE and ALI: one E/G
  update) and ``d_steps`` D updates, so a decay over ``steps`` stages spans
  that many updates of each optimiser; with ``lr_decay_stages`` it spans that
  many stages' updates at the end, after a constant rate.
  """
  g_updates = config.g_steps * config.g_repeats if config.model == 'gan' else 1
  decay_stages = config.lr_decay_stages or config.steps
  return tuple(
      _learning_rate(lr, config.lr_decay, config.steps * per_stage,
                     decay_stages * per_stage)
      for lr, per_stage in ((config.g_lr, g_updates), (config.d_lr, config.d_steps)))


@functools.cache
def _learning_rate(lr: float, decay: str, updates: int,
                   decay_updates: int) -> optax.ScalarOrSchedule:
  if decay == 'constant':
    return lr
  cosine = optax.cosine_decay_schedule(lr, decay_updates)
  if decay_updates == updates:
    return cosine
  return optax.join_schedules([optax.constant_schedule(lr), cosine],
                              [updates - decay_updates])


@functools.cache
def _adam(lr: optax.ScalarOrSchedule, beta1: float,
          beta2: float) -> optax.GradientTransformation:
  # One object per setting: the optimiser is static state structure, so equal
  # configs must give equal structures or every run would compile anew.
  return optax.adam(lr, beta1, beta2)


def create_state(config: GANConfig, fast_layers: bool = True):
  """The initial state; ``fast_layers=False`` builds the DCGANs from Flax's layers.

  A :class:`GANState` for the GAN, an :class:`EncoderGANState` for AAE and ALI.
  """
  if config.is_image:
    info = image_data.get_dataset(config.dataset)
    dcgan = dict(image_size=info.image_size, width=config.width,
                 batch_norm=config.batch_norm, fast_layers=fast_layers)
    generator = DCGANGenerator(channels=info.channels, **dcgan)
    discriminator = DCGANDiscriminator(**dcgan)
    data_shape = info.shape
  else:
    generator = MLPGenerator(hidden=config.g_hidden, depth=config.g_depth,
                             out_dim=2, batch_norm=config.batch_norm)
    discriminator = MaxoutDiscriminator(hidden=config.d_hidden,
                                        depth=config.d_depth,
                                        pieces=config.d_pieces)
    data_shape = (2,)
  g_lr, d_lr = learning_rates(config)
  g_tx = _adam(g_lr, config.beta1, config.beta2)
  d_tx = _adam(d_lr, config.beta1, config.beta2)
  common = dict(rng=jax.random.PRNGKey(config.seed), generator=generator,
                d_tx=d_tx, latent_shape=(config.latent_dim,),
                data_shape=data_shape, g_average=config.g_ema > 0)
  if config.model == 'gan':
    return GANState.create(discriminator=discriminator, g_tx=g_tx, **common)

  # AAE and ALI: E mirrors D's trunk (images) or G's MLP (2D).
  if config.is_image:
    encoder = encoders.DCGANEncoder(latent_dim=config.latent_dim, **dcgan)
  else:
    pacgan = config.ali_networks == 'pacgan'  # validate: ALI only
    encoder = MLPGenerator(
        hidden=config.g_hidden,
        depth=PACGAN_ALI_ENCODER_DEPTH if pacgan else config.g_depth,
        out_dim=config.latent_dim, batch_norm=config.batch_norm)
  if config.model == 'ali':
    if config.ali_networks == 'pacgan':
      encoder = encoders.NoiseInputEncoder(encoder)
    if config.gaussian_encoder:
      encoder = encoders.GaussianOutput(encoder)
    if config.gaussian_generator:
      common['generator'] = encoders.GaussianOutput(generator)
    if config.is_image:
      discriminator = encoders.JointDCGANDiscriminator(**dcgan)
    else:
      discriminator = encoders.JointMaxoutDiscriminator(
          hidden=config.d_hidden, depth=config.d_depth, pieces=config.d_pieces,
          embed=config.ali_networks == 'embedded')
  else:  # The AAE's D(z) sees codes: the 2D maxout network, whatever the data.
    discriminator = MaxoutDiscriminator(hidden=config.d_hidden,
                                        depth=config.d_depth,
                                        pieces=config.d_pieces)
  return EncoderGANState.create(
      encoder=encoder, discriminator=discriminator, ge_tx=g_tx,
      joint=config.model == 'ali',
      g_anchor=config.model == 'ali' and config.reg_lambda > 0,
      e_anchor=config.model == 'aae' and config.reg_lambda > 0, **common)


# The VAE.

def vae_model(config: VAEConfig) -> vae_models.VAE:
  """The VAE of ``config``; raises ValueError for an impossible one."""
  shape = image_data.get_dataset(config.dataset).shape
  return vae_models.make_vae(config.architecture, shape, config.latent_dim,
                             config.likelihood, (config.hidden, config.hidden),
                             config.width)


def vae_learning_rate(config: VAEConfig) -> optax.Schedule:
  """The VAE's Adam learning rate by step.

  ``'constant'``: ``learning_rate`` throughout. ``'iwae'``: the schedule of
  Burda et al. (2015, §5), whose 3,280 passes over the data are 8 stages of
  3^i passes at ``learning_rate · 10^(−i/7)``, i = 0…7; here the stages keep
  those proportions of ``steps``, so the rate falls tenfold over the run and
  two thirds of the steps run at the last, lowest rate.
  """
  if config.lr_schedule == 'constant':
    return optax.constant_schedule(config.learning_rate)
  lengths = np.array([3 ** i for i in range(8)], np.float64)
  ends = np.cumsum(lengths)[:-1] / lengths.sum() * config.steps
  return optax.piecewise_constant_schedule(
      config.learning_rate, {int(round(e)): 10 ** (-1 / 7) for e in ends})


def create_vae_state(config: VAEConfig) -> vae_step.VAEState:
  return vae_step.VAEState.create(
      rng=jax.random.PRNGKey(config.seed), model=vae_model(config),
      tx=OPTIMIZERS[config.optimizer](vae_learning_rate(config)),
      image_shape=image_data.get_dataset(config.dataset).shape,
      latent_dim=config.latent_dim, likelihood=config.likelihood)
