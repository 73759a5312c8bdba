r"""Test NLL of the one-stochastic-layer VAE anchor on binarised MNIST, in a stated budget.

    python -m benchmarks.vae_nll --manual_dir=FOLDER              # configs/vae_nll.py: 86.42
    python -m benchmarks.vae_nll --epochs=1000 --config.batch_size=100   # vae_nll.md: 88.30

The model is Burda et al.'s (2015) one-stochastic-layer VAE: 784-200-200-50
with tanh units, a Bernoulli decoder, dynamically binarised training images,
trained on the single-sample ELBO (eq. 7). Each seed is one run of the recipe
``--config`` (default ``configs/vae_nll.py``: their 3,280 epochs at batch 20
under their learning-rate schedule), any field changed with
``--config.FIELD=value`` (``--config.optimizer=iwae_adam``: the Adam of their
code); ``--epochs`` sets the length in passes over the 60,000 training images
instead of the recipe's steps, and ``--evaluations`` how many test-ELBO
evaluations (and checkpoints) a run makes. Runs go to
``--workdir/<settings>_seed<N>``; re-running resumes or reuses finished runs,
so a budget longer than one sitting can be run in pieces. ``<settings>`` names
how the budget differs from 1,000 epochs at batch 100, lr 1e-3, the iwae
schedule and optax's Adam (``epochs3280_batch20``, say), so runs of other
budgets never collide.

Reported per seed and as mean ± standard error: the test NLL (−log p(x) from
k = ``nll_samples`` importance samples, on all 10,000 test images binarised
once), the single-sample test ELBO, and the training rate. Published: 86.76 nats
(Burda et al. 2015, Table 1, VAE k = 1, one stochastic layer). Writes
``--out_dir/vae_nll[_<settings>].{md,json}``.
"""

import dataclasses
import os
import time

from absl import app
from absl import flags
from ml_collections import config_flags

from benchmarks import stats
import configs
from vi_gen import records as records_lib
from vi_gen.data import images
from vi_gen.training import config as config_lib
from vi_gen.training import vae

PUBLISHED_NLL = 86.76
TRAIN_EXAMPLES = 60_000

_CONFIG = config_flags.DEFINE_config_file(
    'config', configs.path('vae_nll'),
    'The recipe of each run (default configs/vae_nll.py); set any field with '
    '--config.FIELD=value. The benchmark sets seed and, with --epochs, steps.',
    lock_config=True)
_EPOCHS = flags.DEFINE_integer(
    'epochs', None, 'Passes over the training set (default: the recipe\'s steps).',
    lower_bound=1)
_SEEDS = flags.DEFINE_list('seeds', ['0'], 'Seeds, one run each.')
_EVALUATIONS = flags.DEFINE_integer('evaluations', 20,
                                    'Test-ELBO evaluations (and checkpoints) per run.')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/benchmarks/vae_nll',
                               'Runs go to WORKDIR/seed<N>.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results', 'Output directory.')
_MANUAL_DIR = flags.DEFINE_string(
    'manual_dir', None, f'TFDS manual_dir (default: ${images.MANUAL_DIR_ENV}).')


# The budget that run and result names are relative to: 1,000 epochs at batch
# 100, lr 1e-3, the iwae schedule, optax's Adam.
_REFERENCE = {'epochs': 1000, 'batch': 100, 'lr': 1e-3, 'schedule': 'iwae',
              'optimizer': 'adam'}


def _recipe() -> config_lib.VAEConfig:
  return config_lib.from_dict(_CONFIG.value)


def _budget() -> dict:
  """The run's budget in the terms of :data:`_REFERENCE`."""
  config = _recipe()
  epochs = (_EPOCHS.value if _EPOCHS.value is not None
            else config.steps * config.batch_size // TRAIN_EXAMPLES)
  return {'epochs': epochs, 'batch': config.batch_size,
          'lr': config.learning_rate, 'schedule': config.lr_schedule,
          'optimizer': config.optimizer}


def _settings() -> list[str]:
  """Name parts for what differs from :data:`_REFERENCE` (none for it)."""
  budget = _budget()
  return [f'{key if key in ("epochs", "batch", "lr") else ""}'
          + (f'{value:g}' if isinstance(value, float) else f'{value}')
          for key, value in budget.items() if value != _REFERENCE[key]]


def config_for(seed: int) -> config_lib.VAEConfig:
  config = _recipe()
  steps = (_EPOCHS.value * TRAIN_EXAMPLES // config.batch_size
           if _EPOCHS.value is not None else config.steps)
  per_call = config.steps_per_call
  every = max(1, steps // _EVALUATIONS.value // per_call) * per_call
  return dataclasses.replace(config, steps=steps, seed=seed, eval_every=every,
                             checkpoint_every=every)


def run_seed(seed: int) -> dict:
  config = config_for(seed)
  workdir = os.path.join(_WORKDIR.value, '_'.join(_settings() + [f'seed{seed}']))
  start = time.perf_counter()
  vae.train_and_evaluate(config, workdir, manual_dir=_MANUAL_DIR.value)
  seconds = time.perf_counter() - start
  records = records_lib.read_metrics(os.path.join(workdir, 'metrics.jsonl'))
  final = records[-1]
  if final['step'] != config.steps or 'nll' not in final:
    raise RuntimeError(f'{workdir} has no final NLL record')
  rates = [r['steps_per_sec'] for r in records]
  return {'seed': seed, 'steps': config.steps, 'nll': final['nll'],
          'test_elbo': final['test_elbo'], 'train_elbo': final['elbo'],
          'steps_per_sec': sum(rates) / len(rates),
          'seconds_this_invocation': seconds, 'workdir': workdir}


def table(rows: list[dict]) -> str:
  nll = stats.mean_se([r['nll'] for r in rows])
  elbo = stats.mean_se([r['test_elbo'] for r in rows])
  budget, config = _budget(), _recipe()
  lines = [
      f'One-stochastic-layer VAE (784-200-200-50, Bernoulli), {budget["epochs"]} '
      f'epochs at batch {budget["batch"]}, {budget["optimizer"]} at lr '
      f'{budget["lr"]:g} ({budget["schedule"]} schedule); '
      f'test NLL with k = {config.nll_samples}.', '',
      '| seed | steps | test NLL (nats) | test ELBO | train ELBO | steps/s |',
      '|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f'| {r["seed"]} | {r["steps"]} | {r["nll"]:.2f} | '
                 f'{r["test_elbo"]:.2f} | {r["train_elbo"]:.2f} | '
                 f'{r["steps_per_sec"]:.0f} |')
  lines += ['', f'Mean over {len(rows)} seed(s): test NLL {nll[0]:.2f} ± {nll[1]:.2f}, '
            f'test ELBO {elbo[0]:.2f} ± {elbo[1]:.2f}. Published (Burda et al. 2015, '
            f'3,280 epochs): {PUBLISHED_NLL}; goal met: '
            f'{"yes" if nll[0] <= PUBLISHED_NLL else "no"}.']
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  rows = []
  for seed in _SEEDS.value:
    rows.append(run_seed(int(seed)))
    print(f'seed {seed}: test NLL {rows[-1]["nll"]:.2f}, test ELBO '
          f'{rows[-1]["test_elbo"]:.2f}', flush=True)
  text = table(rows)
  print(text)
  stats.write_results(_OUT_DIR.value, '_'.join(['vae_nll'] + _settings()), text,
                      {'epochs': _budget()['epochs'],
                       'lr_schedule': _recipe().lr_schedule,
                       'learning_rate': _recipe().learning_rate,
                       'optimizer': _recipe().optimizer,
                       'batch_size': _recipe().batch_size,
                       'nll_samples': _recipe().nll_samples,
                       'config': dataclasses.asdict(config_for(0)),
                       'published_nll': PUBLISHED_NLL, 'runs': rows})


if __name__ == '__main__':
  app.run(main)
