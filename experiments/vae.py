r"""A VAE (eq. 7) on dynamically binarised MNIST, evaluated by importance sampling.

    TFDS_MANUAL_DIR=../shared/data/tfds/downloads/manual python -m experiments.vae
    python -m experiments.vae --architecture=conv --steps=5000 --nll_samples=500

Defaults: the one-stochastic-layer anchor of Burda et al. (2015), 784-200-200-50
with tanh units and a Bernoulli decoder; Adam 1e-3, batch 100, 30,000 steps (50
epochs); test NLL at the end with k = 5,000 importance samples. Writes
metrics.jsonl, reconstructions_*.png, samples_*.png and checkpoints to
--workdir (default runs/vae/<architecture>_z<latent>_seed<seed>); re-running
resumes. See vi_gen/training/vae_loop.py.
"""

import dataclasses
import sys

from absl import app
from absl import flags
from absl import logging

from experiments import distributed
from experiments import quiet_logs
from vi_gen.data import images
from vi_gen.models import vae as vae_models
from vi_gen.training import vae_loop

_D = vae_loop.VAEConfig()
_ARCHITECTURE = flags.DEFINE_enum('architecture', _D.architecture, ['mlp', 'conv'],
                                  'Encoder/decoder family.')
_LIKELIHOOD = flags.DEFINE_enum('likelihood', _D.likelihood,
                                list(vae_models.LIKELIHOODS), 'Decoder q(x|z).')
_LATENT = flags.DEFINE_integer('latent_dim', _D.latent_dim, 'Dimension of z.')
_HIDDEN = flags.DEFINE_integer('hidden', _D.hidden, 'MLP hidden units (two layers).')
_WIDTH = flags.DEFINE_integer('width', _D.width, 'Conv base width.')
_BATCH = flags.DEFINE_integer('batch_size', _D.batch_size, 'Examples per step.')
_LR = flags.DEFINE_float('learning_rate', _D.learning_rate, 'Adam learning rate.')
_LR_SCHEDULE = flags.DEFINE_enum(
    'lr_schedule', _D.lr_schedule, list(vae_loop.LR_SCHEDULES),
    'constant, or iwae: Burda et al.\'s 8 stages (3^i passes at lr·10^(-i/7)) '
    'scaled to --steps.')
_OPTIMIZER = flags.DEFINE_enum(
    'optimizer', _D.optimizer, list(vae_loop.OPTIMIZERS),
    'adam (optax\'s), or iwae_adam: the Adam of Burda et al.\'s code '
    '(β1 0.99, ε 1e-4, second moments from 1).')
_STEPS = flags.DEFINE_integer('steps', _D.steps, 'Training steps.')
_EPOCHS = flags.DEFINE_integer('epochs', None, 'If set: steps = epochs × 60000 / batch.')
_SEED = flags.DEFINE_integer('seed', _D.seed, 'Random seed.')
_EVAL_EVERY = flags.DEFINE_integer('eval_every', _D.eval_every, 'Steps between evaluations.')
_CKPT_EVERY = flags.DEFINE_integer('checkpoint_every', _D.checkpoint_every,
                                   'Steps between checkpoints.')
_STEPS_PER_CALL = flags.DEFINE_integer(
    'steps_per_call', _D.steps_per_call,
    'Steps fused into one jitted call (faster at small batches); steps, eval_every '
    'and checkpoint_every must be multiples of it.')
_EVAL_EXAMPLES = flags.DEFINE_integer('eval_examples', _D.eval_examples,
                                      'Test images evaluated.')
_EVAL_BATCH = flags.DEFINE_integer('eval_batch', _D.eval_batch, 'Test images per batch.')
_NLL_SAMPLES = flags.DEFINE_integer('nll_samples', _D.nll_samples,
                                    'Importance samples for the final NLL (0: none).')
_NLL_CHUNK = flags.DEFINE_integer('nll_chunk', _D.nll_chunk,
                                  'Samples drawn at once (bounds memory).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data_dir.')
_MANUAL_DIR = flags.DEFINE_string(
    'manual_dir', None, f'TFDS manual_dir (default: ${images.MANUAL_DIR_ENV}).')


def config_from_flags() -> vae_loop.VAEConfig:
  steps = _STEPS.value
  if _EPOCHS.value is not None:
    steps = max(1, _EPOCHS.value * 60_000 // _BATCH.value)
  return vae_loop.VAEConfig(
      architecture=_ARCHITECTURE.value, likelihood=_LIKELIHOOD.value,
      latent_dim=_LATENT.value, hidden=_HIDDEN.value, width=_WIDTH.value,
      batch_size=_BATCH.value, learning_rate=_LR.value,
      lr_schedule=_LR_SCHEDULE.value, optimizer=_OPTIMIZER.value, steps=steps,
      seed=_SEED.value, eval_every=_EVAL_EVERY.value,
      checkpoint_every=_CKPT_EVERY.value, steps_per_call=_STEPS_PER_CALL.value,
      eval_examples=_EVAL_EXAMPLES.value,
      eval_batch=_EVAL_BATCH.value, nll_samples=_NLL_SAMPLES.value,
      nll_chunk=_NLL_CHUNK.value)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  quiet_logs.install()
  distributed.maybe_initialize()
  config = config_from_flags()
  workdir = _WORKDIR.value or (f'runs/vae/{config.architecture}_z{config.latent_dim}'
                               f'_seed{config.seed}')
  logging.info('config: %s', dataclasses.asdict(config))
  try:
    final = vae_loop.train_and_evaluate(config, workdir, data_dir=_DATA_DIR.value,
                                        manual_dir=_MANUAL_DIR.value)
  except vae_loop.ConfigError as e:
    print(f'experiments.vae: error: {e}', file=sys.stderr)
    sys.exit(2)
  except FloatingPointError as e:
    print(f'experiments.vae: error: {e}', file=sys.stderr)
    sys.exit(1)
  if final is not None:
    nll = f', nll {final["nll"]:.2f}' if 'nll' in final else ''
    print(f'final (step {final["step"]}): elbo {final["elbo"]:.2f}, test_elbo '
          f'{final["test_elbo"]:.2f}{nll}; outputs in {workdir}')


if __name__ == '__main__':
  app.run(main)
