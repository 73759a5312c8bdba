"""Recipes: one file per experiment that the project reports, as ml_collections configs.

Each ``configs/NAME.py`` has a ``get_config()`` returning a ``ConfigDict`` of
one schema of :mod:`vi_gen.training.config` (chosen by its ``model`` field):
the schema's defaults, then what the recipe sets. Its docstring gives the
command, the result it should reach (and the file that records it) and its
cost on two CPU cores. Run one with::

    python -m experiments.gan --config=configs/gan_grid25.py
    python -m experiments.gan --config=configs/gan_grid25.py --config.reg_lambda=10

and read one in Python with :func:`load`. The recipe parts below are shared by
several files; they are not defaults of the schema.
"""

import dataclasses
import importlib
import os

import ml_collections

from vi_gen.training import config as schema

DIR = os.path.dirname(os.path.abspath(__file__))


def path(name: str) -> str:
  """The file of recipe ``name`` (e.g. ``'gan_ring8'``), for ``--config``."""
  return os.path.join(DIR, f'{name}.py')


def base(model: str) -> ml_collections.ConfigDict:
  """The schema's defaults for ``model`` as a ConfigDict (its fields locked)."""
  config = ml_collections.ConfigDict(
      dataclasses.asdict(schema.SCHEMAS[model]()))
  config.model = model
  return config


def paper_dcgan(config: ml_collections.ConfigDict, dataset: str,
                preset: str = 'exp1') -> ml_collections.ConfigDict:
  """The paper's image setting on ``dataset`` with its schedule ``preset``.

  The paper's code: the DCGAN of base width 64, z ∈ R¹⁰⁰, batch 64,
  Adam(2e-4, β₁ = 0.5); 2,000 stages, scored every 500 on the protocol's
  sample count (:data:`vi_gen.training.adversarial.IMAGE_EVAL_SAMPLES`).
  """
  from vi_gen.training import adversarial  # pylint: disable=g-import-not-at-top
  config.dataset = dataset
  config.batch_size = 64
  config.g_lr = config.d_lr = 2e-4
  config.latent_dim = 100
  config.steps = 2000
  config.eval_every = config.checkpoint_every = 500
  config.eval_samples = adversarial.IMAGE_EVAL_SAMPLES.get(dataset, 0)
  return paper_schedule(config, preset)


def paper_schedule(config: ml_collections.ConfigDict,
                   preset: str) -> ml_collections.ConfigDict:
  """Applies the paper's schedule ``preset`` (``exp1``/``exp2``) or none (custom)."""
  config.preset = preset
  if preset != 'custom':
    config.update(schema.PRESETS[preset])
  return config


def recipe(dataset: str = 'ring8', preset: str = 'custom', model: str = 'gan',
           **overrides) -> schema.GANConfig:
  """The standard recipe of ``model`` on ``dataset`` as a :class:`GANConfig`.

  2D: the schema's defaults (PacGAN's networks, a one-minute budget) with
  λ = 100 for the GAN. Images: :func:`paper_dcgan` (default schedule exp1)
  with λ = 5 for the GAN. The AAE and ALI keep λ = 0 (their losses as the
  paper writes them). ``overrides`` set fields last.
  """
  if model not in schema.MODELS:
    raise schema.ConfigError(f'unknown model {model!r}; choose one of '
                             f'{", ".join(schema.MODELS)}')
  config = base(model)
  image = dataset in schema.image_data.DATASETS
  if image:
    paper_dcgan(config, dataset, 'exp1' if preset == 'custom' else preset)
  else:
    config.dataset = dataset
    paper_schedule(config, preset)
  if model == 'gan':
    config.reg_lambda = 5.0 if image else 100.0
  config.update(overrides)
  return schema.from_dict(config)


def load(name: str, **overrides):
  """Recipe ``name`` (``configs/NAME.py``) as its schema's dataclass."""
  config = importlib.import_module(f'configs.{name}').get_config()
  config.update(overrides)
  return schema.from_dict(config)
