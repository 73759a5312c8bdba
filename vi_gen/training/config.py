"""The configuration schemas of the experiments (validated by
:mod:`vi_gen.training.validation`).

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
from typing import Any, Mapping

from vi_gen.data import images as image_data


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
