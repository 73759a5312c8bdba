r"""A GAN with or without the variational regulariser (eq. 26), on 2D or image data.

    python -m experiments.gan                                 # ring8, λ = 100, ~1 min on 2 CPU cores
    python -m experiments.gan --reg_lambda=0                  # the unregularised control
    python -m experiments.gan --dataset=grid25 --anchor=stage --g_repeats=2 --reg_lambda=5
    python -m experiments.gan --dataset=mnist --schedule=exp1 --reg_lambda=5   # paper's experiment 1
    python -m experiments.gan --dataset=stacked_mnist --schedule=exp2 --reg_lambda=0

Defaults depend on the dataset: 2D mixtures use PacGAN's networks and λ = 100;
image datasets use the paper's DCGAN (z ∈ R¹⁰⁰, batch 64, Adam 2e-4/β₁ 0.5, λ = 5)
and --schedule=exp1. A schedule preset sets --anchor, --d_steps, --g_steps,
--g_repeats and --batch_norm; any of those given explicitly overrides it.

Image data comes through TFDS; offline, point --manual_dir (or $TFDS_MANUAL_DIR)
at the original files. Writes metrics.jsonl, samples_*.png, TensorBoard events and
checkpoints to --workdir (default: runs/gan/<dataset>_<schedule>_lambda<λ>_seed<seed>,
with _cosine before _seed under --lr_decay=cosine, _cosine_last<N> with
--lr_decay_stages=N, and _ema<decay> under --g_ema);
re-running the same command resumes. See vi_gen/training/gan_loop.py.

Every local device is used (batch split over a data-parallel mesh; the batch
size must be a multiple of the device count). Multi-host: --distributed.
"""

import dataclasses
import sys

from absl import app
from absl import flags
from absl import logging

from experiments import distributed
from experiments import quiet_logs
from vi_gen.data import images
from vi_gen.training import gan_loop

_DATASET = flags.DEFINE_string(
    'dataset', 'ring8',
    'ring8, grid25, mnist, fashion_mnist, cifar10, celeb_a or stacked_mnist.')
_SCHEDULE = flags.DEFINE_enum(
    'schedule', 'custom', ['custom', *gan_loop.PRESETS],
    'The paper\'s experiment 1 (exp1: BatchNorm, 1 D update, snapshot, 2 G '
    'updates on one z) or 2 (exp2: no BatchNorm, 5 D updates, snapshot, 5 z × 2 '
    'G updates), or custom (the individual flags). Image datasets default to exp1.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data_dir (TFDS default if unset).')
_MANUAL_DIR = flags.DEFINE_string(
    'manual_dir', None,
    f'TFDS manual_dir with the original files (default: ${images.MANUAL_DIR_ENV}).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
_LR_DECAY = flags.DEFINE_string(
    'lr_decay', 'constant',
    'constant, or cosine: both learning rates fall to 0 along a half cosine '
    'over --steps (then --steps cannot change on resume).')
_LR_DECAY_STAGES = flags.DEFINE_integer(
    'lr_decay_stages', 0,
    'With --lr_decay=cosine: decay over only the last this many stages, at a '
    'constant rate before them; 0 = over the whole run.', lower_bound=0)

# Flags whose default depends on --dataset and --schedule: None means "default".
_OVERRIDES = {
    'reg_lambda': (flags.DEFINE_float, 'λ of eq. 26 on the element-wise mean of '
                   '(G(z) - G°(z))²; 0 = standard GAN. Default 100 (2D), 5 (images); '
                   'ALI: eq. 40\'s KL(q(x|z) ‖ q°(x|z)) term as λ‖G(z) − G°(z)‖², '
                   'AAE: eq. 32\'s KL(p(z) ‖ p°(z)) as λ‖E(x) − E°(x)‖²; default 0 '
                   'for both.'),
    'anchor': (flags.DEFINE_string, 'G° policy: previous (one-update lag) or stage '
               '(G at the stage start).'),
    'd_steps': (flags.DEFINE_integer, 'D updates per stage.'),
    'g_steps': (flags.DEFINE_integer, 'G minibatches (fresh z) per stage.'),
    'g_repeats': (flags.DEFINE_integer, 'G updates per minibatch of z.'),
    'batch_norm': (flags.DEFINE_boolean, 'BatchNorm (2D: in G; images: in G and D).'),
    'batch_size': (flags.DEFINE_integer, 'Examples per update (100 2D, 64 images).'),
    'g_lr': (flags.DEFINE_float, 'Generator Adam learning rate.'),
    'd_lr': (flags.DEFINE_float, 'Discriminator Adam learning rate.'),
    'beta1': (flags.DEFINE_float, 'Adam β₁ (both networks).'),
    'beta2': (flags.DEFINE_float, 'Adam β₂ (both networks).'),
    'g_ema': (flags.DEFINE_float, 'Decay of a moving average of G, scored and '
              'shown in its place (the current G as current_*); 0 = none.'),
    'latent_dim': (flags.DEFINE_integer, 'Dimension of z (2 for 2D, 100 images).'),
    'steps': (flags.DEFINE_integer, 'Number of stages.'),
    'seed': (flags.DEFINE_integer, 'Random seed.'),
    'eval_every': (flags.DEFINE_integer, 'Stages between evaluations (and pictures).'),
    'checkpoint_every': (flags.DEFINE_integer, 'Stages between checkpoints.'),
    'eval_samples': (flags.DEFINE_integer, 'Generated samples per evaluation '
                     '(2D 2,500; MNIST 10,000; stacked MNIST 26,000).'),
    'g_hidden': (flags.DEFINE_integer, '2D generator hidden units.'),
    'g_depth': (flags.DEFINE_integer, '2D generator hidden layers.'),
    'd_hidden': (flags.DEFINE_integer, '2D discriminator maxout units.'),
    'd_depth': (flags.DEFINE_integer, '2D discriminator maxout layers.'),
    'd_pieces': (flags.DEFINE_integer, '2D linear pieces per maxout unit.'),
    'width': (flags.DEFINE_integer, 'DCGAN base width (the paper: 64).'),
}
for _name, (_define, _help) in _OVERRIDES.items():
  _define(_name, None, _help + ' (default depends on --dataset/--schedule)')


def config_from_flags(model: str = 'gan', **fields) -> gan_loop.GANConfig:
  """The defaults of ``model`` on the dataset, the preset applied, then any flag
  given explicitly, then ``fields`` (the model's own flags)."""
  config = gan_loop.default_config(_DATASET.value, _SCHEDULE.value, model)
  given = {name: flags.FLAGS[name].value for name in _OVERRIDES
           if flags.FLAGS[name].value is not None}
  return dataclasses.replace(config, **given, lr_decay=_LR_DECAY.value,
                             lr_decay_stages=_LR_DECAY_STAGES.value, **fields)


def default_workdir(config: gan_loop.GANConfig) -> str:
  decay = (config.lr_decay if not config.lr_decay_stages
           else f'{config.lr_decay}_last{config.lr_decay_stages}')
  seed = (f'seed{config.seed}' if config.lr_decay == 'constant'
          else f'{decay}_seed{config.seed}')
  if config.g_ema:
    seed = f'ema{config.g_ema:g}_{seed}'
  if config.model == 'ali':
    networks = '' if config.ali_networks == 'embedded' else f'_{config.ali_networks}'
    reg = f'_lambda{config.reg_lambda:g}' if config.reg_lambda else ''
    updates = '_simultaneous' if config.ali_simultaneous else ''
    r1 = f'_r1gamma{config.ali_r1:g}' if config.ali_r1 else ''
    return (f'runs/ali/{config.dataset}_{config.ali_loss}{networks}{reg}'
            f'{updates}{r1}_{seed}')
  if config.model == 'aae':
    reg = f'_reg{config.reg_lambda:g}' if config.reg_lambda else ''
    return f'runs/aae/{config.dataset}_lambda{config.recon_lambda:g}{reg}_{seed}'
  schedule = config.preset if config.preset != 'custom' else config.anchor
  return f'runs/gan/{config.dataset}_{schedule}_lambda{config.reg_lambda:g}_{seed}'


# The scores printed at the end, in this order, where the run has them.
_FINAL_SCORES = ('modes', 'hq', 'reverse_kl', 'stacked_modes', 'stacked_kl', 'fd',
                 'fd_floor', 'reconstruction', 'recon_same_mode', 'recon_accuracy',
                 'code_mmd')


def run(argv, program: str, model: str = 'gan', **fields) -> None:
  """The body of ``experiments.gan``, ``experiments.aae`` and ``experiments.ali``."""
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  quiet_logs.install()
  distributed.maybe_initialize()
  try:
    config = config_from_flags(model, **fields)
    workdir = _WORKDIR.value or default_workdir(config)
    logging.info('config: %s', dataclasses.asdict(config))
    logging.info('workdir: %s', workdir)
    final = gan_loop.train_and_evaluate(config, workdir, data_dir=_DATA_DIR.value,
                                        manual_dir=_MANUAL_DIR.value)
  except gan_loop.ConfigError as e:
    print(f'{program}: error: {e}', file=sys.stderr)
    sys.exit(2)
  except gan_loop.NonFiniteLossError as e:
    print(f'{program}: error: {e}', file=sys.stderr)
    sys.exit(1)
  if final is None:
    return
  scores = {k: final[k] for k in _FINAL_SCORES if k in final}
  shown = {k: f'{v:.1f}%' if k in ('hq', 'recon_same_mode', 'recon_accuracy')
           else f'{v:.3f}' if isinstance(v, float) else str(v)
           for k, v in scores.items()}
  print(f'final (stage {final["step"]}): '
        + ', '.join(f'{k} {v}' for k, v in shown.items())
        + f'; outputs in {workdir}')


def main(argv):
  run(argv, 'experiments.gan')


if __name__ == '__main__':
  app.run(main)
