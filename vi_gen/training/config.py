"""The configuration schemas of the experiments, and their validation.

Each schema is a frozen dataclass with one default per field. A recipe
(``configs/*.py``) starts from these defaults and sets what it changes; the
entry points take a recipe with ``--config=...`` and any field with
``--config.FIELD=value`` (or the shorthand ``--FIELD=value``). A run records
its configuration in ``config.json`` and a resumed run must match it
(:func:`vi_gen.checkpoint.check_compatible`).

* :class:`GANConfig`: the GAN (eqs. 16–26), the AAE (eqs. 30–34) and ALI
  (eqs. 35–43), on a 2D mixture or an image dataset;
* :class:`VAEConfig`: the VAE (eq. 7) on binarised MNIST;
* :class:`EMConfig`: EM for a Gaussian mixture (eqs. 8–11).
"""

import dataclasses
import math
import os
from typing import Any, Mapping

from vi_gen.data import images as image_data
from vi_gen.data import toy2d


class ConfigError(ValueError):
  """A configuration that cannot run; raised before any computation."""


# The adversarial models: the GAN (eqs. 16–26), the AAE (eqs. 30–34), ALI (35–43).
MODELS = ('gan', 'aae', 'ali')
LR_DECAYS = ('constant', 'cosine')
# ALI's 2D encoder and joint D (GANConfig.ali_networks).
ALI_NETWORKS = ('embedded', 'pacgan')

# The paper's two DCGAN schedules (docs/protocols.md). exp1: BatchNorm; per
# stage one D update, a snapshot G° = G, then 2 G updates on the same z. exp2:
# no BatchNorm; 5 D updates, one snapshot, then 5 minibatches of z × 2 G updates.
PRESETS = {
    'exp1': dict(anchor='stage', d_steps=1, g_steps=1, g_repeats=2,
                 batch_norm=True),
    'exp2': dict(anchor='stage', d_steps=5, g_steps=5, g_repeats=2,
                 batch_norm=False),
}


@dataclasses.dataclass(frozen=True)
class GANConfig:
  """A GAN, AAE or ALI run. The defaults: the plain GAN on ring8, PacGAN's networks.

  ``model``: ``gan``, ``aae`` (an encoder against a latent D) or ``ali`` (an
  encoder and G against a joint D). ``dataset``: a 2D mixture (``ring8``,
  ``grid25``) or an image dataset (:data:`vi_gen.data.images.DATASETS`).
  ``preset``: the label of the paper's schedule the recipe applied
  (:data:`PRESETS`), or ``custom``; it names the default workdir.

  ``reg_lambda``: λ of eq. 26 on the element-wise mean of (G(z) − G°(z))²;
  0 is the standard GAN. For ALI the same term on G (eq. 40), for the AAE on E
  (eq. 32). ``anchor``: G° is G before the previous G update (``previous``)
  or G at the start of the stage (``stage``). A stage is ``d_steps`` D
  updates, then ``g_steps`` minibatches of z, each for ``g_repeats`` G
  updates; the AAE and ALI make one E/G update per stage.

  Optimisation: Adam(``g_lr``/``d_lr``, ``beta1``, ``beta2``) on
  ``batch_size`` examples; ``lr_decay='cosine'`` takes both rates to 0 along
  a half cosine over ``steps`` stages, or over only the last
  ``lr_decay_stages`` when that is > 0. ``g_ema`` > 0 keeps a moving average
  of G with that decay and scores it (the current G as ``current_*``).

  Networks: 2D, PacGAN's MLP G (``g_hidden`` × ``g_depth``, BatchNorm when
  ``batch_norm``) and maxout D (``d_hidden`` × ``d_depth``, ``d_pieces``);
  images, the paper's DCGAN of base ``width``. z ∈ R^``latent_dim``.

  ALI: ``ali_loss`` is eq. 41 (``vi``), 42 (``minimax``) or 43
  (``nonsaturating``); ``gaussian_encoder``/``gaussian_generator`` add learned
  Gaussian noise; ``ali_networks='pacgan'`` uses the encoder E(x, ε) and raw
  joint D of PacGAN's 2D ALI runs; ``ali_simultaneous`` takes D's and E/G's
  steps from one pass; ``ali_r1`` is γ of an R1 penalty on the joint D (a
  stabiliser from outside the paper). AAE: ``recon_lambda`` weighs eq. 34's
  reconstruction term.

  Budget and outputs: ``steps`` stages, scored every ``eval_every`` on
  ``eval_samples`` samples, checkpointed every ``checkpoint_every``.
  ``num_seeds`` > 1 trains seeds ``seed … seed + num_seeds − 1`` in one
  vmapped program (:mod:`vi_gen.training.seeds`).
  """
  model: str = 'gan'
  dataset: str = 'ring8'
  preset: str = 'custom'
  reg_lambda: float = 0.0
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
  num_seeds: int = 1
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
  def is_image(self) -> bool:
    return self.dataset in image_data.DATASETS

  def resumable_fields(self) -> tuple[str, ...]:
    """Fields a resumed run may change: they do not change what is trained.

    ``steps`` not under a decay, which is laid out over them.
    """
    fields = ('steps', 'eval_every', 'checkpoint_every')
    return fields if self.lr_decay == 'constant' else fields[1:]


@dataclasses.dataclass(frozen=True)
class VAEConfig:
  """A VAE run. Defaults: Burda et al.'s one-stochastic-layer anchor.

  784-200-200-50 (``hidden``, ``latent_dim``) with tanh units and a Bernoulli
  decoder on dynamically binarised MNIST, or a conv encoder/decoder of base
  ``width`` (``architecture='conv'``). ``optimizer``: ``adam`` (optax's) or
  ``iwae_adam``, the Adam of Burda et al.'s code
  (:func:`vi_gen.training.optimizers.iwae_adam`); ``lr_schedule``:
  ``constant`` or ``iwae`` (their 8 stages scaled to ``steps``).
  ``steps_per_call`` steps run in one jitted call; ``steps``, ``eval_every``
  and ``checkpoint_every`` must be multiples of it. The test ELBO is taken on
  ``eval_examples`` test images in batches of ``eval_batch``; the final NLL
  from ``nll_samples`` importance samples, ``nll_chunk`` at a time.
  """
  model: str = 'vae'
  dataset: str = 'mnist'
  architecture: str = 'mlp'
  likelihood: str = 'bernoulli'
  latent_dim: int = 50
  hidden: int = 200
  width: int = 32
  batch_size: int = 100
  learning_rate: float = 1e-3
  lr_schedule: str = 'constant'
  optimizer: str = 'adam'
  steps: int = 30_000
  seed: int = 0
  eval_every: int = 5_000
  checkpoint_every: int = 5_000
  steps_per_call: int = 1
  eval_examples: int = 10_000
  eval_batch: int = 100
  nll_samples: int = 5_000
  nll_chunk: int = 500

  def resumable_fields(self) -> tuple[str, ...]:
    fields = ('steps', 'eval_every', 'checkpoint_every', 'steps_per_call',
              'eval_examples', 'eval_batch', 'nll_samples', 'nll_chunk')
    return fields if self.lr_schedule == 'constant' else fields[1:]


@dataclasses.dataclass(frozen=True)
class EMConfig:
  """EM for a Gaussian mixture on a 2D mixture, or on MNIST after PCA.

  ``num_components`` K; ``covariance_type`` of :data:`vi_gen.em.COVARIANCE_TYPES`;
  at most ``max_iter`` iterations, stopping when the mean log-likelihood
  changes by less than ``tol``; ``reg_covar`` is added to covariance
  diagonals. 2D: ``num_samples`` points drawn. MNIST: pixels in [0, 1]
  projected on the first ``pca_dim`` principal components of the training
  set (0: the raw 784 pixels). ``float64`` fits in double precision (on CPU
  and GPU; TPUs emulate it slowly): scikit-learn's arithmetic, for
  comparisons and ill-conditioned data.
  """
  model: str = 'em'
  dataset: str = 'ring8'
  num_components: int = 8
  covariance_type: str = 'full'
  max_iter: int = 200
  tol: float = 1e-3
  reg_covar: float = 1e-6
  num_samples: int = 10_000
  pca_dim: int = 50
  seed: int = 0
  float64: bool = False


SCHEMAS = {'gan': GANConfig, 'aae': GANConfig, 'ali': GANConfig,
           'vae': VAEConfig, 'em': EMConfig}


# Every schema field by what it sets, in the order --help and --dry_run show them.
FIELD_GROUPS = {
    'data': ('model', 'dataset', 'batch_size', 'num_samples'),
    'model': ('latent_dim', 'batch_norm', 'g_hidden', 'g_depth', 'd_hidden',
              'd_depth', 'd_pieces', 'width', 'ali_networks', 'gaussian_encoder',
              'gaussian_generator', 'architecture', 'likelihood', 'hidden',
              'num_components', 'covariance_type', 'pca_dim'),
    'objective': ('reg_lambda', 'anchor', 'ali_loss', 'ali_r1', 'recon_lambda',
                  'reg_covar', 'float64'),
    'schedule': ('preset', 'steps', 'd_steps', 'g_steps', 'g_repeats',
                 'ali_simultaneous', 'steps_per_call', 'max_iter', 'tol', 'seed',
                 'num_seeds'),
    'optimiser': ('g_lr', 'd_lr', 'beta1', 'beta2', 'lr_decay', 'lr_decay_stages',
                  'g_ema', 'optimizer', 'learning_rate', 'lr_schedule'),
    'outputs': ('eval_every', 'eval_samples', 'checkpoint_every', 'eval_examples',
                'eval_batch', 'nll_samples', 'nll_chunk'),
}


def describe(fields, width: int = 80) -> str:
  """``fields`` (a schema instance, dict or ConfigDict) as ``group: name=value …``
  lines, grouped by FIELD_GROUPS; fields outside every group come last, under
  ``other``."""
  if dataclasses.is_dataclass(fields):
    fields = dataclasses.asdict(fields)
  fields = dict(fields.to_dict() if hasattr(fields, 'to_dict') else fields)
  grouped = {g: [n for n in names if n in fields] for g, names in FIELD_GROUPS.items()}
  known = {n for names in FIELD_GROUPS.values() for n in names}
  grouped['other'] = [n for n in fields if n not in known]
  lines = []
  for group, names in grouped.items():
    if not names:
      continue
    line = f'  {group + ":":11s}'
    for name in names:
      value = fields[name]
      item = f'{name}={value if isinstance(value, str) else repr(value)}'
      if len(line) + 1 + len(item) > width and line.strip() != group + ':':
        lines.append(line)
        line = ' ' * 13
      line += ' ' + item
    lines.append(line)
  return '\n'.join(lines)


def from_dict(fields: Mapping[str, Any]):
  """The schema instance for a recipe's fields (a dict or ConfigDict).

  The schema is chosen by ``fields['model']``.

  Raises:
    ConfigError: for an unknown model or a field the schema does not have.
  """
  fields = dict(fields.to_dict() if hasattr(fields, 'to_dict') else fields)
  model = fields.get('model', 'gan')
  if model not in SCHEMAS:
    raise ConfigError(f'unknown model {model!r}; choose one of '
                      f'{", ".join(SCHEMAS)}')
  schema = SCHEMAS[model]
  known = {f.name for f in dataclasses.fields(schema)}
  if unknown := sorted(set(fields) - known):
    raise ConfigError(f'{schema.__name__} has no field {", ".join(unknown)}')
  return schema(**fields)


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
