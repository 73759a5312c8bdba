r"""GAN on a 2D mixture, with or without the variational regulariser (eq. 26).

    python -m experiments.gan                                 # ring8, λ = 100, ~1 min on 2 CPU cores
    python -m experiments.gan --reg_lambda=0                  # the unregularised control
    python -m experiments.gan --dataset=grid25 --anchor=stage --g_repeats=2 --reg_lambda=5

Writes metrics.jsonl, samples_*.png and checkpoints to --workdir (default:
runs/gan/<dataset>_lambda<λ>_<anchor>_seed<seed>); re-running the same command
resumes from the last checkpoint. See vi_gen/training/gan_loop.py.
"""

import dataclasses
import sys

from absl import app
from absl import flags
from absl import logging

from experiments import quiet_logs
from vi_gen.training import gan_loop

_DEFAULTS = gan_loop.GANConfig()

_DATASET = flags.DEFINE_string('dataset', _DEFAULTS.dataset, 'ring8 or grid25.')
_REG_LAMBDA = flags.DEFINE_float(
    'reg_lambda', _DEFAULTS.reg_lambda,
    'λ of eq. 26 on the element-wise mean of (G(z) - G°(z))²; 0 = standard GAN.')
_ANCHOR = flags.DEFINE_string(
    'anchor', _DEFAULTS.anchor,
    'G° policy: previous (one-update lag) or stage (G at the stage start).')
_D_STEPS = flags.DEFINE_integer('d_steps', _DEFAULTS.d_steps, 'D updates per stage.')
_G_STEPS = flags.DEFINE_integer('g_steps', _DEFAULTS.g_steps,
                                'G minibatches (fresh z) per stage.')
_G_REPEATS = flags.DEFINE_integer('g_repeats', _DEFAULTS.g_repeats,
                                  'G updates per minibatch of z.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', _DEFAULTS.batch_size,
                                   'Examples per update.')
_G_LR = flags.DEFINE_float('g_lr', _DEFAULTS.g_lr, 'Generator Adam learning rate.')
_D_LR = flags.DEFINE_float('d_lr', _DEFAULTS.d_lr,
                           'Discriminator Adam learning rate.')
_BETA1 = flags.DEFINE_float('beta1', _DEFAULTS.beta1, 'Adam β₁ (both networks).')
_BETA2 = flags.DEFINE_float('beta2', _DEFAULTS.beta2, 'Adam β₂ (both networks).')
_STEPS = flags.DEFINE_integer('steps', _DEFAULTS.steps, 'Number of stages.')
_SEED = flags.DEFINE_integer('seed', _DEFAULTS.seed, 'Random seed.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
_EVAL_EVERY = flags.DEFINE_integer('eval_every', _DEFAULTS.eval_every,
                                   'Stages between evaluations (and pictures).')
_CHECKPOINT_EVERY = flags.DEFINE_integer('checkpoint_every',
                                         _DEFAULTS.checkpoint_every,
                                         'Stages between checkpoints.')
_EVAL_SAMPLES = flags.DEFINE_integer('eval_samples', _DEFAULTS.eval_samples,
                                     'Generated samples per evaluation.')
_G_HIDDEN = flags.DEFINE_integer('g_hidden', _DEFAULTS.g_hidden,
                                 'Generator hidden units.')
_G_DEPTH = flags.DEFINE_integer('g_depth', _DEFAULTS.g_depth,
                                'Generator hidden layers.')
_G_BATCH_NORM = flags.DEFINE_boolean('g_batch_norm', _DEFAULTS.g_batch_norm,
                                     'BatchNorm in the generator.')
_D_HIDDEN = flags.DEFINE_integer('d_hidden', _DEFAULTS.d_hidden,
                                 'Discriminator maxout units.')
_D_DEPTH = flags.DEFINE_integer('d_depth', _DEFAULTS.d_depth,
                                'Discriminator maxout layers.')
_D_PIECES = flags.DEFINE_integer('d_pieces', _DEFAULTS.d_pieces,
                                 'Linear pieces per maxout unit.')


def config_from_flags() -> gan_loop.GANConfig:
  return gan_loop.GANConfig(
      dataset=_DATASET.value, reg_lambda=_REG_LAMBDA.value, anchor=_ANCHOR.value,
      d_steps=_D_STEPS.value, g_steps=_G_STEPS.value, g_repeats=_G_REPEATS.value,
      batch_size=_BATCH_SIZE.value, g_lr=_G_LR.value, d_lr=_D_LR.value,
      beta1=_BETA1.value, beta2=_BETA2.value, steps=_STEPS.value,
      seed=_SEED.value, eval_every=_EVAL_EVERY.value,
      checkpoint_every=_CHECKPOINT_EVERY.value,
      eval_samples=_EVAL_SAMPLES.value, g_hidden=_G_HIDDEN.value,
      g_depth=_G_DEPTH.value, g_batch_norm=_G_BATCH_NORM.value,
      d_hidden=_D_HIDDEN.value, d_depth=_D_DEPTH.value, d_pieces=_D_PIECES.value)


def default_workdir(config: gan_loop.GANConfig) -> str:
  return (f'runs/gan/{config.dataset}_lambda{config.reg_lambda:g}_'
          f'{config.anchor}_seed{config.seed}')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  quiet_logs.install()
  config = config_from_flags()
  workdir = _WORKDIR.value or default_workdir(config)
  logging.info('config: %s', dataclasses.asdict(config))
  logging.info('workdir: %s', workdir)
  try:
    final = gan_loop.train_and_evaluate(config, workdir)
  except gan_loop.ConfigError as e:
    print(f'experiments.gan: error: {e}', file=sys.stderr)
    sys.exit(2)
  except gan_loop.NonFiniteLossError as e:
    print(f'experiments.gan: error: {e}', file=sys.stderr)
    sys.exit(1)
  if final is not None:
    print(f'final (stage {final["step"]}): modes {final["modes"]}, '
          f'hq {final["hq"]:.1f}%, reverse_kl {final["reverse_kl"]:.3f}; '
          f'outputs in {workdir}')


if __name__ == '__main__':
  app.run(main)
