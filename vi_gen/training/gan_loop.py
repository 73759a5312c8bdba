"""Train and evaluate a GAN on a 2D mixture or an image dataset (``experiments.gan``).

``train_and_evaluate(config, workdir)`` writes to ``workdir``:

* ``config.json``: the configuration (checked on resume);
* ``metrics.jsonl``: one JSON object per evaluation with ``step``, the dataset's
  metrics, the training losses averaged since the previous evaluation, and
  throughput. 2D: ``modes``, ``hq`` (percent), ``reverse_kl``. MNIST: ``fd`` and
  ``fd_floor``; stacked MNIST also ``stacked_modes`` and ``stacked_kl``;
* ``samples_STEP.png``: 2D samples over the true modes, or an 8×8 grid of images
  from a fixed z;
* TensorBoard event files (``tensorboard --logdir WORKDIR``): every number in
  metrics.jsonl, and the image grids;
* ``checkpoints/``: Orbax checkpoints; re-running on the same workdir resumes.

Defaults depend on the dataset family (:func:`default_config`); the paper's two
image experiments are presets (:data:`PRESETS`, ``--schedule=exp1|exp2``).
"""

import dataclasses
import functools
import json
import os
import time
from typing import Optional

from absl import logging
from flax.metrics import tensorboard
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vi_gen import checkpoint
from vi_gen import parallel
from vi_gen import plotting
from vi_gen import xla
from vi_gen.data import images as image_data
from vi_gen.data import toy2d
from vi_gen.metrics import image_metrics
from vi_gen.metrics import latent as latent_metrics
from vi_gen.metrics import mnist_classifier
from vi_gen.metrics.modes2d import mode_metrics
from vi_gen.models import encoders
from vi_gen.models.dcgan import DCGANDiscriminator, DCGANGenerator
from vi_gen.models.mlp2d import MaxoutDiscriminator, MLPGenerator
from vi_gen.training.schedule import Schedule
from vi_gen.training import encoder_stage
from vi_gen.training import stage as stage_lib
from vi_gen.training import state as state_lib
from vi_gen.training.state import EncoderGANState
from vi_gen.training.state import GANState

# The adversarial models the loop trains: the GAN (eqs. 16–26), the AAE
# (eqs. 30–34) and ALI (eqs. 35–43).
MODELS = ('gan', 'aae', 'ali')


class ConfigError(ValueError):
  """A configuration that cannot run; raised before any computation."""


class NonFiniteLossError(FloatingPointError):
  """Training produced a NaN or infinite loss."""


# The paper's two DCGAN experiments (SPEC.md §3). exp1: BatchNorm; per stage one D
# update, a snapshot G° = G, then 2 G updates on the same z. exp2: no BatchNorm;
# 5 D updates, one snapshot, then 5 minibatches of z × 2 G updates against it.
PRESETS = {
    'exp1': dict(anchor='stage', d_steps=1, g_steps=1, g_repeats=2,
                 batch_norm=True),
    'exp2': dict(anchor='stage', d_steps=5, g_steps=5, g_repeats=2,
                 batch_norm=False),
}


@dataclasses.dataclass(frozen=True)
class GANConfig:
  """A GAN experiment. The defaults are the 2D ones; see :func:`default_config`.

  2D: PacGAN's networks, a one-minute CPU budget. PacGAN (Lin et al., 2018)
  trains with Adam(1e-4, β₁ = 0.8) for 400 epochs of 1,000 batches of 100; the
  defaults here train 4,000 stages at a higher learning rate so that a first run
  finishes in about a minute on two CPU cores. λ: the paper's λ = 5 is for 64×64
  images. In 2D one G update moves G(z) by roughly 1e-3, so λ‖G(z) − G°(z)‖² is
  negligible beside −log D(G(z)) unless λ is near 100; ``python -m
  benchmarks.collapse`` measures λ = 100 against λ = 0.

  Images: the paper's code (DCGAN, z ∈ R¹⁰⁰, batch 64, Adam 2e-4, β₁ = 0.5, λ = 5)
  with the ``exp1`` schedule unless another is chosen.

  ``model='aae'`` or ``'ali'`` trains an encoder E with G against a latent or
  joint discriminator instead (:mod:`vi_gen.training.encoder_stage`), with the
  same networks for G, the same data, budget and metrics, plus the encoder's
  (:func:`default_config` sets λ of eq. 26 to 0 for them; a λ > 0 adds the
  term the paper drops, in eq. 26's form with the ``previous`` anchor: for ALI
  eq. 40's ``‖G(z) − G°(z)‖²``, for the AAE eq. 32's ``‖E(x) − E°(x)‖²``; see
  :mod:`~vi_gen.training.encoder_stage`). For those only
  ``d_steps`` and ``batch_norm`` of the schedule flags apply (:func:`validate`
  refuses an ``anchor``, ``g_steps`` or ``g_repeats`` other than the preset's);
  ``ali_loss``, ``gaussian_encoder``, ``gaussian_generator``, ``ali_networks``
  and ``recon_lambda`` are theirs.

  ``ali_networks`` (ALI on 2D data): ``'embedded'`` pairs G with an encoder of
  the same MLP and a joint D that embeds x and z before joining them;
  ``'pacgan'`` uses the networks of PacGAN's 2D ALI runs, behind the published
  ALI rows: the encoder E(x, ε) of two hidden layers (ε ~ N(0, I) beside x)
  and a joint D on the raw [x, z].

  ``ali_simultaneous``: ALI's D and E/G updates from one pass, as in ALI's
  and PacGAN's code (``ALISchedule.simultaneous``); with the ``pacgan``
  networks, Adam(1e-4, β₁ = 0.8) and 400,000 stages that is PacGAN's 2D ALI
  recipe.

  ``ali_r1`` (ALI): γ of an R1 penalty on the joint D's input gradient at the
  encoder pairs, added to eq. 38 (``ALISchedule.r1_gamma``; a stabiliser
  from outside the paper). 0, the default, trains eq. 38 alone.

  ``g_ema``: if > 0, the decay of an exponential moving average of G (its
  parameters and BatchNorm statistics), moved after every stage. The run's
  scores, samples and reconstructions are then the average's (an encoder
  stays the current one), and the current G's scores are logged beside them
  as ``current_<score>``. 0 keeps no average.

  ``lr_decay``: ``'constant'`` keeps ``g_lr`` and ``d_lr`` throughout;
  ``'cosine'`` takes each down to 0 along a half cosine over the run's
  ``steps`` stages (:func:`learning_rates`).

  ``lr_decay_stages`` (cosine only): if > 0, the cosine spans only the run's
  last ``lr_decay_stages`` stages and the rates stay constant before them, so
  the run follows the constant-rate run of the same seed up to that point.
  0 decays over the whole run.
  """
  model: str = 'gan'
  dataset: str = 'ring8'
  preset: str = 'custom'
  reg_lambda: float = 100.0
  anchor: str = 'previous'
  d_steps: int = 1
  g_steps: int = 1
  g_repeats: int = 1
  batch_size: int = 100
  g_lr: float = 1e-3
  d_lr: float = 1e-3
  beta1: float = 0.5
  beta2: float = 0.999
  lr_decay: str = 'constant'
  lr_decay_stages: int = 0
  g_ema: float = 0.0
  latent_dim: int = 2
  batch_norm: bool = True
  g_hidden: int = 400
  g_depth: int = 4
  d_hidden: int = 200
  d_depth: int = 3
  d_pieces: int = 5
  width: int = 64
  steps: int = 4000
  seed: int = 0
  eval_every: int = 500
  eval_samples: int = 2500
  checkpoint_every: int = 1000
  ali_loss: str = 'vi'
  gaussian_encoder: bool = False
  gaussian_generator: bool = False
  ali_networks: str = 'embedded'
  ali_simultaneous: bool = False
  ali_r1: float = 0.0
  recon_lambda: float = 10.0

  @property
  def schedule(self):
    """The stage's static description, for :attr:`stage_fn`."""
    if self.model == 'ali':
      return encoder_stage.ALISchedule(
          loss=self.ali_loss, d_steps=self.d_steps,
          gaussian_encoder=self.gaussian_encoder,
          gaussian_generator=self.gaussian_generator,
          noise_input_encoder=self.ali_networks == 'pacgan',
          reg_lambda=self.reg_lambda, simultaneous=self.ali_simultaneous,
          r1_gamma=self.ali_r1)
    if self.model == 'aae':
      return encoder_stage.AAESchedule(recon_lambda=self.recon_lambda,
                                       d_steps=self.d_steps,
                                       reg_lambda=self.reg_lambda)
    return Schedule(reg_lambda=self.reg_lambda, anchor=self.anchor,
                    d_steps=self.d_steps, g_steps=self.g_steps,
                    g_repeats=self.g_repeats)

  @property
  def stage_fn(self) -> stage_lib.StageFn:
    stage_fn = {'gan': stage_lib.gan_stage, 'aae': encoder_stage.aae_stage,
                'ali': encoder_stage.ali_stage}[self.model]
    return stage_lib.averaging(stage_fn, self.g_ema) if self.g_ema else stage_fn

  @property
  def is_image(self) -> bool:
    return self.dataset in image_data.DATASETS


# Fields that may change when a run is resumed: they do not change what is trained.
RESUMABLE_FIELDS = ('steps', 'eval_every', 'checkpoint_every')

LR_DECAYS = ('constant', 'cosine')

# ALI's 2D encoder and joint D (GANConfig.ali_networks); 'pacgan' has an
# encoder of this many hidden layers (of g_hidden units), as PacGAN's has.
ALI_NETWORKS = ('embedded', 'pacgan')
PACGAN_ALI_ENCODER_DEPTH = 2


# Generated samples per evaluation on image datasets: the stacked-MNIST protocol's
# 26,000; the MNIST test set's size for FD; elsewhere no metric, only the grid.
_IMAGE_EVAL_SAMPLES = {'mnist': 10_000, 'stacked_mnist':
                       image_metrics.STACKED_MNIST_SAMPLES}


def default_config(dataset: str = 'ring8', preset: str = 'custom',
                   model: str = 'gan') -> GANConfig:
  """The defaults for ``model`` on ``dataset`` with the schedule ``preset`` applied.

  Raises:
    ConfigError: for an unknown model, dataset or preset.
  """
  if model not in MODELS:
    raise ConfigError(f'unknown model {model!r}; choose one of {", ".join(MODELS)}')
  if dataset not in toy2d.DATASETS and dataset not in image_data.DATASETS:
    raise ConfigError(
        f'unknown dataset {dataset!r}; choose one of '
        f'{", ".join(sorted([*toy2d.DATASETS, *image_data.DATASETS]))}')
  if preset != 'custom' and preset not in PRESETS:
    raise ConfigError(f'unknown schedule {preset!r}; choose one of '
                      f'custom, {", ".join(sorted(PRESETS))}')
  config = GANConfig(model=model, dataset=dataset,
                     reg_lambda=100.0 if model == 'gan' else 0.0)
  if dataset in image_data.DATASETS:
    preset = 'exp1' if preset == 'custom' else preset
    config = dataclasses.replace(
        config, reg_lambda=5.0 if model == 'gan' else 0.0, batch_size=64,
        g_lr=2e-4, d_lr=2e-4,
        latent_dim=100, steps=2000, eval_every=500, checkpoint_every=500,
        eval_samples=_IMAGE_EVAL_SAMPLES.get(dataset, 0))
  if preset != 'custom':
    config = dataclasses.replace(config, preset=preset, **PRESETS[preset])
  return config


def validate(config: GANConfig, workdir: str,
             mesh: Optional[jax.sharding.Mesh] = None) -> None:
  """Raises :class:`ConfigError` with a one-line reason if ``config`` cannot run.

  ``mesh`` is the data-parallel mesh the run will use (default: all devices);
  the batch must split evenly over it.
  """
  defaults = default_config(config.dataset, config.preset, config.model)  # all known
  if config.model != 'gan':
    # AAE and ALI make one E/G update per stage with no anchor: these GAN
    # schedule fields would be recorded but do nothing, so they are refused.
    for name in ('anchor', 'g_steps', 'g_repeats'):
      if getattr(config, name) != getattr(defaults, name):
        raise ConfigError(
            f'{name}={getattr(config, name)}: {config.model} makes one '
            f'encoder/generator update per stage; of the schedule flags only '
            f'd_steps and batch_norm apply')
  if config.ali_networks not in ALI_NETWORKS:
    raise ConfigError(f'unknown ali_networks {config.ali_networks!r}; choose one '
                      f'of {", ".join(ALI_NETWORKS)}')
  if config.ali_networks != 'embedded' and (config.model != 'ali'
                                            or config.is_image):
    raise ConfigError(f'ali_networks={config.ali_networks} is for ALI on 2D data')
  if config.ali_simultaneous and config.model != 'ali':
    raise ConfigError('ali_simultaneous is for ALI')
  if config.ali_r1 and config.model != 'ali':
    raise ConfigError('ali_r1 is for ALI')
  try:
    config.schedule  # pylint: disable=pointless-statement
  except ValueError as e:
    raise ConfigError(str(e)) from None
  for name in ('steps', 'batch_size', 'eval_every', 'checkpoint_every',
               'latent_dim', 'g_hidden', 'g_depth', 'd_hidden', 'd_depth',
               'd_pieces', 'width'):
    if getattr(config, name) < 1:
      raise ConfigError(f'{name} must be >= 1, got {getattr(config, name)}')
  if config.eval_samples < (0 if config.is_image else 1):
    raise ConfigError(f'eval_samples must be >= {0 if config.is_image else 1}, '
                      f'got {config.eval_samples}')
  try:
    parallel.check_batch_size(config.batch_size,
                              parallel.make_mesh() if mesh is None else mesh)
  except parallel.BatchSizeError as e:
    raise ConfigError(str(e)) from None
  for name in ('g_lr', 'd_lr'):
    if not getattr(config, name) > 0:
      raise ConfigError(f'{name} must be > 0, got {getattr(config, name)}')
  for name in ('beta1', 'beta2'):
    if not 0 <= getattr(config, name) < 1:
      raise ConfigError(f'{name} must be in [0, 1), got {getattr(config, name)}')
  if not 0 <= config.g_ema < 1:
    raise ConfigError(f'g_ema must be in [0, 1), got {config.g_ema}')
  if config.lr_decay not in LR_DECAYS:
    raise ConfigError(f'unknown lr_decay {config.lr_decay!r}; choose one of '
                      f'{", ".join(LR_DECAYS)}')
  if config.lr_decay_stages:
    if config.lr_decay == 'constant':
      raise ConfigError('lr_decay_stages needs a decay (lr_decay=cosine)')
    if not 0 < config.lr_decay_stages <= config.steps:
      raise ConfigError(f'lr_decay_stages must be in [0, steps={config.steps}], '
                        f'got {config.lr_decay_stages}')
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, '.write_test')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f'workdir {workdir} is not writable: {e.strerror}') from None
  try:
    checkpoint.check_compatible(config, workdir, checkpoint.resumable(
        RESUMABLE_FIELDS, steps_scheduled=config.lr_decay != 'constant'))
  except checkpoint.IncompatibleCheckpointError as e:
    raise ConfigError(str(e)) from None


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
    generator = DCGANGenerator(image_size=info.image_size, channels=info.channels,
                               width=config.width, batch_norm=config.batch_norm,
                               fast_layers=fast_layers)
    discriminator = DCGANDiscriminator(image_size=info.image_size,
                                       width=config.width,
                                       batch_norm=config.batch_norm,
                                       fast_layers=fast_layers)
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
  rng = jax.random.PRNGKey(config.seed)
  latent_shape = (config.latent_dim,)
  if config.model == 'gan':
    return GANState.create(rng=rng, generator=generator,
                           discriminator=discriminator, g_tx=g_tx, d_tx=d_tx,
                           latent_shape=latent_shape, data_shape=data_shape,
                           g_average=config.g_ema > 0)

  # AAE and ALI: E mirrors D's trunk (images) or G's MLP (2D).
  if config.is_image:
    encoder = encoders.DCGANEncoder(
        image_size=info.image_size, latent_dim=config.latent_dim,
        width=config.width, batch_norm=config.batch_norm, fast_layers=fast_layers)
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
      generator = encoders.GaussianOutput(generator)
    if config.is_image:
      discriminator = encoders.JointDCGANDiscriminator(
          image_size=info.image_size, width=config.width,
          batch_norm=config.batch_norm, fast_layers=fast_layers)
    else:
      discriminator = encoders.JointMaxoutDiscriminator(
          hidden=config.d_hidden, depth=config.d_depth, pieces=config.d_pieces,
          embed=config.ali_networks == 'embedded')
  else:  # The AAE's D(z) sees codes: the 2D maxout network, whatever the data.
    discriminator = MaxoutDiscriminator(hidden=config.d_hidden,
                                        depth=config.d_depth,
                                        pieces=config.d_pieces)
  return EncoderGANState.create(
      rng=rng, generator=generator, encoder=encoder, discriminator=discriminator,
      ge_tx=g_tx, d_tx=d_tx, latent_shape=latent_shape, data_shape=data_shape,
      joint=config.model == 'ali',
      g_anchor=config.model == 'ali' and config.reg_lambda > 0,
      e_anchor=config.model == 'aae' and config.reg_lambda > 0,
      g_average=config.g_ema > 0)


def _split_if_single_process(x: jax.Array) -> jax.Array:
  if jax.process_count() == 1:
    # Split each chunk over the devices. With several processes the chunk stays
    # replicated, so that every process can read the results it scores.
    x = parallel.constrain_batch(x)
  return x


@xla.jit
def _generate(state, z: jax.Array) -> jax.Array:
  return state.generate(_split_if_single_process(z))


@xla.jit
def _encode_and_reconstruct(state: EncoderGANState, x: jax.Array):
  codes = state.encode(_split_if_single_process(x))
  return codes, state.generate(codes)


def _in_chunks(fn, state, inputs: jax.Array, chunk: int):
  """``fn(state, part)`` over fixed-size chunks of ``inputs``, concatenated.

  Under a mesh each chunk is split over its devices (512 divides evenly over
  any power-of-two device count up to 512).
  """
  out = []
  for i in range(0, len(inputs), chunk):
    part = inputs[i:i + chunk]
    pad = chunk - len(part) if len(inputs) > chunk else 0
    if pad:
      part = jnp.concatenate([part, jnp.zeros((pad, *part.shape[1:]), part.dtype)])
    out.append(jax.tree.map(lambda a: np.asarray(a)[:len(part) - pad],
                            fn(state, part)))
  return jax.tree.map(lambda *parts: np.concatenate(parts), *out)


def generate(state, z: jax.Array, chunk: int = 512) -> np.ndarray:
  """G(z) in inference mode, in fixed-size chunks so that memory stays bounded."""
  return _in_chunks(_generate, state, z, chunk)


def encode_and_reconstruct(state: EncoderGANState, x,
                           chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
  """E(x) and G(E(x)) in inference mode (mean codes), in fixed-size chunks."""
  return _in_chunks(_encode_and_reconstruct, state, jnp.asarray(x), chunk)


def encoder_scores(state: EncoderGANState, x, key: jax.Array) -> tuple[dict, np.ndarray]:
  """Scores of E for AAE and ALI on real ``x``; also returns G(E(x)).

  ``reconstruction``: the element-wise mean of (x − G(E(x)))²;
  ``code_mmd``: MMD² between E(x) and as many N(0, I) draws
  (:mod:`vi_gen.metrics.latent`); ``code_mean_norm`` and ``code_cov_distance``.
  """
  codes, recon = encode_and_reconstruct(state, x)
  x = np.asarray(x, np.float32)
  prior = jax.random.normal(key, codes.shape)
  moments = latent_metrics.moment_distances(jnp.asarray(codes))
  return {
      'reconstruction': float(np.mean(np.square(recon - x))),
      'code_mmd': float(latent_metrics.mmd_squared(jnp.asarray(codes), prior)),
      'code_mean_norm': float(moments.mean_norm),
      'code_cov_distance': float(moments.cov_distance),
  }, recon


def _to_host(state: GANState, metrics, count, bad_step) -> dict:
  """The one device-to-host transfer of a training interval, made explicitly."""
  return jax.device_get({'step': state.step, 'metrics': metrics, 'count': count,
                         'bad_step': bad_step})


class _Toy2DTask:
  """2D mixtures: data sampled on device, many stages per compiled call.

  ``advance`` (and ``_ImageTask.advance``) move data between host and device
  only explicitly (``device_put``/``device_get``), once per interval for
  results; ``tests/test_image_gan.py`` runs them under
  ``jax.transfer_guard('disallow')``.
  """

  def __init__(self, config: GANConfig, seed_key: jax.Array, mesh):
    self.config = config
    self.mesh = mesh
    self.mixture = toy2d.get_mixture(config.dataset)
    self.eval_z = jax.random.normal(seed_key, (config.eval_samples,
                                               config.latent_dim))
    real_key, self.prior_key = jax.random.split(jax.random.fold_in(seed_key, 1))
    self.eval_real = (self.mixture.sample(real_key, config.eval_samples)
                      if config.model != 'gan' else None)

  def start(self, state: GANState) -> None:
    del state

  def advance(self, state: GANState, num: int):
    state, metrics, bad_step = stage_lib.train_stages(
        state, parallel.replicate(np.int32(num), self.mesh),
        schedule=self.config.schedule,
        sample_real=toy2d.real_sampler(self.config.dataset),
        batch_size=self.config.batch_size, stage_fn=self.config.stage_fn)
    return state, _to_host(state, metrics, num, bad_step)

  def evaluate(self, state: GANState, step: int, workdir: Optional[str],
               writer) -> dict:
    """Scores samples; writes the picture to ``workdir`` unless it is None."""
    del writer
    samples = generate(state, self.eval_z)
    scores = mode_metrics(samples, self.mixture.means, self.mixture.sigma)
    scores = {'modes': int(scores.modes), 'hq': float(scores.hq),
              'reverse_kl': float(scores.reverse_kl)}
    if self.eval_real is not None:
      encoder, recon = encoder_scores(state, self.eval_real, self.prior_key)
      encoder['recon_same_mode'] = 100.0 * float(latent_metrics.same_mode_fraction(
          self.eval_real, recon, self.mixture.means, self.mixture.sigma))
      scores.update(encoder)
    if workdir is None:
      return scores
    plotting.plot_samples_2d(
        os.path.join(workdir, f'samples_{step:07d}.png'), samples,
        self.mixture.means, self.mixture.sigma,
        f'{self.config.dataset}, λ={self.config.reg_lambda:g}, stage {step}: '
        f'{scores["modes"]}/{self.mixture.num_modes} modes, '
        f'{scores["hq"]:.1f}% HQ, KL {scores["reverse_kl"]:.2f}')
    return scores

  def describe(self, scores: dict) -> str:
    return (f'modes {scores["modes"]}/{self.mixture.num_modes}  hq '
            f'{scores["hq"]:.1f}%  reverse_kl {scores["reverse_kl"]:.3f}'
            + _describe_encoder(scores))


def _describe_encoder(scores: dict) -> str:
  parts = []
  if 'recon_same_mode' in scores:
    parts.append(f'recon_same_mode {scores["recon_same_mode"]:.1f}%')
  if 'recon_accuracy' in scores:
    parts.append(f'recon_accuracy {scores["recon_accuracy"]:.1f}%')
  if 'code_mmd' in scores:
    parts.append(f'reconstruction {scores["reconstruction"]:.4f}  '
                 f'code_mmd {scores["code_mmd"]:.4f}')
  return ''.join('  ' + p for p in parts)


class _ImageTask:
  """Image datasets: batches from a TFDS pipeline, one compiled stage per call.

  Metrics use the fixed MNIST classifier where it applies: ``mnist`` (FD) and
  ``stacked_mnist`` (modes, KL and FD). The real statistics and the FD floor are
  computed once per process, from the test and train splits with the same count.
  AAE and ALI are also scored on ``eval_samples`` test images
  (:func:`encoder_scores`; with the classifier, ``recon_accuracy``: the
  percentage of G(E(x)) given x's label, every channel's for stacked MNIST),
  and ``reconstructions_STEP.png`` shows 32 test images above their G(E(x)).
  """
  GRID = 64

  def __init__(self, config: GANConfig, seed_key: jax.Array, mesh, data_dir,
               manual_dir):
    self.config = config
    self.mesh = mesh
    self.info = image_data.get_dataset(config.dataset)
    self.data_kwargs = dict(data_dir=data_dir, manual_dir=manual_dir)
    z_key, grid_key = jax.random.split(seed_key)
    self.eval_z = jax.random.normal(z_key, (config.eval_samples, config.latent_dim))
    self.grid_z = jax.random.normal(grid_key, (self.GRID, config.latent_dim))
    self.has_metrics = (config.dataset in _IMAGE_EVAL_SAMPLES
                        and config.eval_samples > 0)
    self.prior_key = jax.random.fold_in(seed_key, 2)
    # Streamed datasets (CelebA) have no test split in memory to encode.
    self.scores_encoder = (config.model != 'gan' and config.eval_samples > 0
                           and self.info.in_memory)
    self.batches = None
    self.real_stats = None

  def start(self, state: GANState) -> None:
    c = self.config
    self.batches = image_data.train_batches(
        c.dataset, batch_size=c.batch_size, d_steps=c.d_steps, seed=c.seed,
        skip_stages=int(state.step),
        process_slice=parallel.local_batch_slice(c.batch_size), **self.data_kwargs)
    self.real_shape = (c.d_steps, c.batch_size, *self.info.shape)
    if self.has_metrics:
      self._prepare_metrics()
    if self.scores_encoder:
      self.test_x, self.test_labels = _encoder_eval_set(
          c.dataset, c.eval_samples, **self.data_kwargs)

  def _prepare_metrics(self) -> None:
    self.classifier = mnist_classifier.load()
    self.real_stats, self.fd_floor = _real_feature_stats(
        self.config.dataset, self.config.eval_samples, **self.data_kwargs)

  def advance(self, state: GANState, num: int):
    schedule, stage_fn = self.config.schedule, self.config.stage_fn
    totals = stage_lib.zero_totals(state, self.real_shape, schedule, stage_fn)
    for _ in range(num):
      real = parallel.shard_batch(next(self.batches)['image'], self.mesh,
                                  batch_axis=1)
      state, totals = stage_lib.train_stage_on_batch(
          state, real, totals, schedule=schedule, stage_fn=stage_fn)
    host = _to_host(state, *totals)  # sums, count, bad_step
    host['metrics'] = {k: v / max(host['count'], 1)
                       for k, v in host['metrics'].items()}
    return state, host

  def evaluate(self, state: GANState, step: int, workdir: Optional[str],
               writer) -> dict:
    """Scores samples; writes the grid to ``workdir`` unless it is None."""
    grid = plotting.image_grid(generate(state, self.grid_z))
    if workdir is not None:
      plotting.save_image_grid(os.path.join(workdir, f'samples_{step:07d}.png'),
                               grid)
    writer.image('samples', grid[None], step)
    scores = {}
    if self.scores_encoder:
      scores, recon = encoder_scores(state, self.test_x, self.prior_key)
      pairs = plotting.image_grid(np.concatenate([self.test_x[:32], recon[:32]]))
      if workdir is not None:
        plotting.save_image_grid(
            os.path.join(workdir, f'reconstructions_{step:07d}.png'), pairs)
      writer.image('reconstructions', pairs[None], step)
      if self.has_metrics:
        labels = self.classifier.channel_outputs(recon)[0]
        scores['recon_accuracy'] = 100.0 * float(np.mean(
            np.all(labels == self.test_labels, axis=-1)))
    if not self.has_metrics:
      return scores
    labels, features = self.classifier.channel_outputs(
        generate(state, self.eval_z))
    scores.update(fd=image_metrics.frechet_distance(
        image_metrics.gaussian_stats(features), self.real_stats),
                  fd_floor=self.fd_floor)
    if self.config.dataset == 'stacked_mnist':
      modes = image_metrics.stacked_mnist_modes(labels)
      scores.update(stacked_modes=modes.modes, stacked_kl=modes.kl)
    return scores

  def describe(self, scores: dict) -> str:
    parts = []
    if 'stacked_modes' in scores:
      parts.append(f'modes {scores["stacked_modes"]}/1000  '
                   f'kl {scores["stacked_kl"]:.3f}')
    if 'fd' in scores:
      parts.append(f'fd {scores["fd"]:.3f} (floor {scores["fd_floor"]:.3f})')
    return ('  '.join(parts) + _describe_encoder(scores)).strip() or 'samples written'


@functools.cache
def _encoder_eval_set(dataset: str, count: int, data_dir: Optional[str],
                      manual_dir: Optional[str]) -> tuple[np.ndarray, np.ndarray]:
  """The first ``count`` test images in [−1, 1] and their labels ``[count, C]``.

  Stacked MNIST draws its test triples with a fixed seed.
  """
  x, y = image_data.load_arrays(dataset, 'test', data_dir=data_dir,
                                manual_dir=manual_dir)
  if dataset == 'stacked_mnist':
    x, y = image_data.stack_digits(x, y, count, np.random.default_rng(1))
  x, y = x[:count], np.asarray(y[:count]).reshape(min(count, len(x)), -1)
  return (x.astype(np.float32) / 127.5 - 1.0), y


@functools.cache
def _real_feature_stats(dataset: str, count: int, data_dir: Optional[str],
                        manual_dir: Optional[str]):
  """Classifier-feature statistics of ``count`` real test images, and the FD floor.

  The floor is the Fréchet distance from ``count`` real *train* images to the
  same test statistics. Stacked MNIST draws its triples with a fixed seed.
  Computed once per process: every run and evaluation compares with the same.
  """
  classifier = mnist_classifier.load()
  kwargs = dict(data_dir=data_dir, manual_dir=manual_dir)
  test_x, test_y = image_data.load_arrays('mnist', 'test', **kwargs)
  train_x, train_y = image_data.load_arrays('mnist', 'train', **kwargs)
  if dataset == 'stacked_mnist':
    rng = np.random.default_rng(0)
    test_x, _ = image_data.stack_digits(test_x, test_y, count, rng)
    train_x, _ = image_data.stack_digits(train_x, train_y, count, rng)
  else:
    test_x, train_x = test_x[:count], train_x[:count]
  stats = [image_metrics.gaussian_stats(classifier.channel_outputs(x)[1])
           for x in (test_x, train_x)]
  floor = image_metrics.frechet_distance(*stats)
  logging.info('FD floor (real test vs real train, %d each): %.3f', count, floor)
  return stats[0], floor


class _NullWriter:
  """The summary writer of processes other than 0: writes nothing."""

  def scalar(self, *args, **kwargs):
    pass

  image = flush = close = scalar


def _next_boundary(step: int, config: GANConfig) -> int:
  def next_multiple(every):
    return (step // every + 1) * every
  return min(next_multiple(config.eval_every),
             next_multiple(config.checkpoint_every), config.steps)


def _evaluate(task, config: GANConfig, state, step: int, workdir: Optional[str],
              writer) -> dict:
  """The task's scores; with ``g_ema``, the average's, and the current G's prefixed."""
  if not config.g_ema:
    return task.evaluate(state, step, workdir, writer)
  scores = task.evaluate(state_lib.averaged(state), step, workdir, writer)
  current = task.evaluate(state, step, None, _NullWriter())
  return {**scores, **{f'current_{k}': v for k, v in current.items()}}


def train_and_evaluate(config: GANConfig, workdir: str, *,
                       data_dir: Optional[str] = None,
                       manual_dir: Optional[str] = None,
                       mesh: Optional[jax.sharding.Mesh] = None) -> Optional[dict]:
  """Trains (or resumes) the run in ``workdir``; returns the last evaluation.

  Args:
    config: the experiment.
    workdir: where outputs go; an existing run there is resumed.
    data_dir, manual_dir: TFDS directories for image datasets (see
      :func:`vi_gen.data.images.tfds_kwargs`).
    mesh: the data-parallel mesh (default: all devices, :mod:`vi_gen.parallel`).
      The state is replicated over it and every batch split across it.

  Raises:
    ConfigError: before any computation, if the config or workdir is unusable.
    NonFiniteLossError: if a loss becomes NaN or infinite; the last good
      checkpoint is left as it was.
  """
  mesh = parallel.make_mesh() if mesh is None else mesh
  validate(config, workdir, mesh)
  if config.model == 'gan' and (reason := config.schedule.inert_reason()):
    logging.warning('%s', reason)
  # Multi-host: every process trains and checkpoints (Orbax coordinates them);
  # process 0 alone writes the config, metrics, pictures and summaries.
  lead = jax.process_index() == 0
  if lead:
    checkpoint.write_config(config, workdir)
  metrics_path = os.path.join(workdir, 'metrics.jsonl')

  state = parallel.replicate(create_state(config), mesh)
  ckpt = checkpoint.Checkpointer(workdir)
  if (restored_step := ckpt.latest_step()) is not None:
    state = ckpt.restore(state)
    logging.info('resumed from the checkpoint at step %d in %s', restored_step,
                 workdir)
  if lead:
    checkpoint.truncate_metrics(metrics_path, restored_step or 0)
  step = int(state.step)
  if step >= config.steps:
    ckpt.close()
    logging.info('%s is already at step %d of %d; nothing to train.', workdir,
                 step, config.steps)
    return _read_last_record(metrics_path)

  seed_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
  task = (_ImageTask(config, seed_key, mesh, data_dir, manual_dir)
          if config.is_image else _Toy2DTask(config, seed_key, mesh))
  task.start(state)
  writer = tensorboard.SummaryWriter(workdir) if lead else _NullWriter()
  last_eval = None
  # Training metrics are averaged on the host since the last evaluation; after a
  # resume mid-interval that average covers only the stages run since the resume.
  # Evaluation metrics do not depend on it.
  sums, count, interval_start = {}, 0, time.perf_counter()
  try:
    with jax.set_mesh(mesh):
      while step < config.steps:
        num = _next_boundary(step, config) - step
        state, result = task.advance(state, num)
        if result['bad_step'] != 0:
          last_good = ckpt.latest_step()
          raise NonFiniteLossError(
              f'non-finite loss at stage {result["bad_step"]}; stopped. The last '
              f'good checkpoint (step {last_good}) in {workdir} is intact.')
        step, done = int(result['step']), int(result['count'])
        for k, v in result['metrics'].items():
          sums[k] = sums.get(k, 0.0) + float(v) * done
        count += done

        if step % config.eval_every == 0 or step == config.steps:
          elapsed = time.perf_counter() - interval_start
          eval_start = time.perf_counter()
          scores = _evaluate(task, config, state, step, workdir if lead else None,
                             writer)
          if clash := set(scores) & set(sums):  # would overwrite a score
            raise ValueError(f'training metrics reuse score names {sorted(clash)}')
          record = {'step': step, **scores,
                    **{k: v / count for k, v in sorted(sums.items())},
                    'stages_per_sec': count / elapsed,
                    'eval_seconds': time.perf_counter() - eval_start}
          if lead:
            with open(metrics_path, 'a') as f:
              f.write(json.dumps(record) + '\n')
          for k, v in record.items():
            if k != 'step':
              writer.scalar(k, v, step)
          writer.flush()
          logging.info('stage %d/%d  %s  d_loss %.3f  g_loss %.3f  (%.2f stages/s)',
                       step, config.steps, task.describe(scores), record['d_loss'],
                       record['g_loss'], record['stages_per_sec'])
          last_eval = record
          sums, count, interval_start = {}, 0, time.perf_counter()
        if step % config.checkpoint_every == 0 or step == config.steps:
          ckpt.save(step, state)
  finally:
    writer.close()
    ckpt.close()
  return last_eval


def _read_last_record(path: str) -> Optional[dict]:
  if not os.path.exists(path):
    return None
  records = checkpoint.read_metrics(path)
  return records[-1] if records else None
