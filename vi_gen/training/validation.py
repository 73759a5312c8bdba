"""Whether a configuration can run, checked before any work: one
:class:`~vi_gen.training.config.ConfigError` line with the reason if not.

:func:`validate` dispatches on ``config.model`` to :func:`validate_gan`,
:func:`validate_vae` or ``em_fit.validate_em``; :func:`require_data` and
:func:`check_writable` check what a run needs besides its configuration.
"""

import dataclasses
import math
import os

from vi_gen.data import images as image_data
from vi_gen.data import toy2d
from vi_gen.training.config import (ALI_NETWORKS, LR_DECAYS, MODELS, PRESETS,
                                    ConfigError, GANConfig, VAEConfig)


INT32_MAX = 2**31 - 1

# Image datasets scored by FD against their test images (stacked MNIST draws
# as many test triples as it needs), and MNIST's number of test images.
FD_DATASETS = ('mnist', 'stacked_mnist')
MNIST_TEST = 10_000


def representable(config) -> None:
  """Every float finite and every integer within int32, which the device's
  step counters and seeds are."""
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if isinstance(value, bool):
      continue
    if isinstance(value, float) and not math.isfinite(value):
      raise ConfigError(f'{field.name} must be a finite number, got {value}')
    if isinstance(value, int) and not -INT32_MAX - 1 <= value <= INT32_MAX:
      raise ConfigError(f'{field.name}={value} is out of range: JAX counts '
                        f'steps and seeds in int32 (at most {INT32_MAX})')
  last_seed = config.seed + getattr(config, 'num_seeds', 1) - 1
  if last_seed > INT32_MAX:
    raise ConfigError(f'the last seed, {last_seed}, is above {INT32_MAX}')


def _positive(config, names) -> None:
  for name in names:
    if getattr(config, name) < 1:
      raise ConfigError(f'{name} must be >= 1, got {getattr(config, name)}')


def _choice(config, name, choices) -> None:
  if getattr(config, name) not in choices:
    raise ConfigError(f'unknown {name} {getattr(config, name)!r}; choose one of '
                      f'{", ".join(choices)}')


def validate_gan(config: GANConfig) -> None:
  """Raises :class:`ConfigError` with a one-line reason if ``config`` cannot run."""
  representable(config)
  _choice(config, 'model', MODELS)
  _choice(config, 'dataset', sorted([*toy2d.DATASETS, *image_data.DATASETS]))
  _choice(config, 'preset', ['custom', *PRESETS])
  if differ := [f'{k}={getattr(config, k)!r}'
                for k, v in PRESETS.get(config.preset, {}).items()
                if getattr(config, k) != v]:
    raise ConfigError(
        f'preset={config.preset} sets {PRESETS[config.preset]} but the config has '
        f'{", ".join(differ)}; set preset=custom to change the schedule')
  if config.model != 'gan':
    # AAE and ALI make one E/G update per stage with no G° schedule: these
    # fields would be recorded but do nothing, so they are refused.
    expected = {'anchor': 'previous', 'g_steps': 1, 'g_repeats': 1}
    expected.update((k, v) for k, v in PRESETS.get(config.preset, {}).items()
                    if k in expected)
    for name, default in expected.items():
      if getattr(config, name) != default:
        raise ConfigError(
            f'{name}={getattr(config, name)}: {config.model} makes one '
            f'encoder/generator update per stage; of the schedule fields only '
            f'd_steps and batch_norm apply')
  _choice(config, 'ali_networks', ALI_NETWORKS)
  if config.ali_networks != 'embedded' and (config.model != 'ali'
                                            or config.is_image):
    raise ConfigError(f'ali_networks={config.ali_networks} is for ALI on 2D data')
  if config.ali_simultaneous and config.model != 'ali':
    raise ConfigError('ali_simultaneous is for ALI')
  if config.ali_r1 and config.model != 'ali':
    raise ConfigError('ali_r1 is for ALI')
  _positive(config, ('steps', 'num_seeds', 'batch_size', 'eval_every',
                     'checkpoint_every', 'latent_dim', 'g_hidden', 'g_depth', 'd_hidden', 'd_depth',
                     'd_pieces', 'width'))
  if config.eval_samples < (0 if config.is_image else 1):
    raise ConfigError(f'eval_samples must be >= {0 if config.is_image else 1}, '
                      f'got {config.eval_samples}')
  if config.dataset in FD_DATASETS and config.eval_samples:
    most = MNIST_TEST if config.dataset == 'mnist' else INT32_MAX
    if not 2 <= config.eval_samples <= most:
      raise ConfigError(
          f'eval_samples must be 0 (no scores) or at least 2 on '
          f'{config.dataset}' + (f' and at most its {MNIST_TEST} test images, '
                                 'which the FD compares them with' if
                                 config.dataset == 'mnist' else '') +
          f', got {config.eval_samples}')
  for name in ('g_lr', 'd_lr'):
    if not getattr(config, name) > 0:
      raise ConfigError(f'{name} must be > 0, got {getattr(config, name)}')
  for name in ('beta1', 'beta2'):
    if not 0 <= getattr(config, name) < 1:
      raise ConfigError(f'{name} must be in [0, 1), got {getattr(config, name)}')
  if not 0 <= config.g_ema < 1:
    raise ConfigError(f'g_ema must be in [0, 1), got {config.g_ema}')
  _choice(config, 'lr_decay', LR_DECAYS)
  if config.lr_decay_stages:
    if config.lr_decay == 'constant':
      raise ConfigError('lr_decay_stages needs a decay (lr_decay=cosine)')
    if not 0 < config.lr_decay_stages <= config.steps:
      raise ConfigError(f'lr_decay_stages must be in [0, steps={config.steps}], '
                        f'got {config.lr_decay_stages}')
  from vi_gen.training import build  # pylint: disable=g-import-not-at-top
  _builds(build.schedule, config)


def _builds(build_fn, config) -> None:
  """Raises :class:`ConfigError` if ``build_fn(config)`` raises ValueError."""
  try:
    build_fn(config)
  except ValueError as e:
    raise ConfigError(str(e)) from None


def validate_vae(config: VAEConfig) -> None:
  """Raises :class:`ConfigError` with a one-line reason if ``config`` cannot run."""
  from vi_gen.training import build  # pylint: disable=g-import-not-at-top
  representable(config)
  if config.dataset not in image_data.DATASETS:
    raise ConfigError(f'unknown dataset {config.dataset!r}')
  _positive(config, ('latent_dim', 'hidden', 'width', 'batch_size', 'steps',
                     'eval_every', 'checkpoint_every', 'steps_per_call',
                     'eval_examples', 'eval_batch', 'nll_chunk'))
  for name in ('steps', 'eval_every', 'checkpoint_every'):
    if getattr(config, name) % config.steps_per_call:
      raise ConfigError(f'{name}={getattr(config, name)} is not a multiple of '
                        f'steps_per_call={config.steps_per_call}')
  if config.nll_samples < 0:
    raise ConfigError(f'nll_samples must be >= 0, got {config.nll_samples}')
  if not config.learning_rate > 0:
    raise ConfigError(f'learning_rate must be > 0, got {config.learning_rate}')
  if config.lr_schedule not in build.LR_SCHEDULES:
    raise ConfigError(f'lr_schedule must be one of {build.LR_SCHEDULES}, '
                      f'got {config.lr_schedule!r}')
  if config.optimizer not in build.OPTIMIZERS:
    raise ConfigError(f'optimizer must be one of {tuple(build.OPTIMIZERS)}, '
                      f'got {config.optimizer!r}')
  _builds(build.vae_model, config)


def validate(config) -> None:
  """The schema's own validation (:func:`validate_gan`, :func:`validate_vae`,
  ``em_fit.validate_em``), by ``config.model``."""
  if config.model == 'em':
    from vi_gen.training import em_fit  # pylint: disable=g-import-not-at-top
    em_fit.validate_em(config)
  elif config.model == 'vae':
    validate_vae(config)
  else:
    validate_gan(config)


def require_data(dataset: str, data_dir, manual_dir) -> None:
  """:func:`vi_gen.data.images.require` for an image dataset, as a
  :class:`ConfigError`: before anything is written."""
  try:
    image_data.require(dataset, data_dir, manual_dir)
  except image_data.DataUnavailableError as e:
    raise ConfigError(str(e)) from None


def check_writable(workdir: str) -> None:
  """Raises :class:`ConfigError` unless ``workdir`` exists (made if need be) and
  takes a file."""
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, '.write_test')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f'workdir {workdir} is not writable: {e.strerror}') from None
