r"""Test NLL of the one-stochastic-layer VAE anchor on binarised MNIST, in a stated budget.

    TFDS_MANUAL_DIR=/path/to/mnist python -m benchmarks.vae_nll

The model is Burda et al.'s (2015) one-stochastic-layer VAE: 784-200-200-50
with tanh units, a Bernoulli decoder, dynamically binarised training images,
Adam at batch 100 (``--optimizer=iwae_adam``: the Adam of their code), trained
on the single-sample ELBO (eq. 7). The budget is
``--epochs`` passes over the 60,000 training images (default 1,000, against the
paper's 3,280) under ``--lr_schedule`` (default ``iwae``: the paper's eight
stages at lr·10^(−i/7), scaled to the budget). Each seed is one
``experiments.vae`` run (``vi_gen.training.vae``) in
``--workdir/<settings>_seed<N>``; re-running resumes or reuses finished runs, so
a budget longer than one sitting can be run in pieces. ``<settings>_`` is absent
for the defaults and otherwise names what differs (``epochs3280_batch20``, say),
so runs of other budgets never collide.

Reported per seed and as mean ± standard error: the test NLL (−log p(x) from
k = ``--nll_samples`` importance samples, on all 10,000 test images binarised
once), the single-sample test ELBO, and the training rate. Published: 86.76 nats
(Burda et al. 2015, Table 1, VAE k = 1, one stochastic layer). Writes
``--out_dir/vae_nll[_<settings>].{md,json}``.
"""

import os
import time

from absl import app
from absl import flags

from benchmarks import stats
from vi_gen import records as records_lib
from vi_gen.data import images
from vi_gen.training import build
from vi_gen.training import config as config_lib
from vi_gen.training import vae

PUBLISHED_NLL = 86.76
TRAIN_EXAMPLES = 60_000

_EPOCHS = flags.DEFINE_integer('epochs', 1000, 'Passes over the training set.')
_SEEDS = flags.DEFINE_list('seeds', ['0'], 'Seeds, one run each.')
_SCHEDULE = flags.DEFINE_enum('lr_schedule', 'iwae', list(build.LR_SCHEDULES),
                              'Learning-rate schedule (build.vae_learning_rate).')
_LR = flags.DEFINE_float('learning_rate', 1e-3, 'Initial Adam learning rate.')
_OPTIMIZER = flags.DEFINE_enum('optimizer', 'adam', list(build.OPTIMIZERS),
                               'adam, or iwae_adam (Burda et al.\'s; config_lib.VAEConfig).')
_BATCH = flags.DEFINE_integer('batch_size', 100, 'Examples per step.')
_NLL_SAMPLES = flags.DEFINE_integer('nll_samples', 5000, 'k for the test NLL.')
_EVALUATIONS = flags.DEFINE_integer('evaluations', 20,
                                    'Test-ELBO evaluations (and checkpoints) per run.')
_STEPS_PER_CALL = flags.DEFINE_integer(
    'steps_per_call', 20, 'Training steps fused into one jitted call (speed only).')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/benchmarks/vae_nll',
                               'Runs go to WORKDIR/seed<N>.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results', 'Output directory.')
_MANUAL_DIR = flags.DEFINE_string(
    'manual_dir', None, f'TFDS manual_dir (default: ${images.MANUAL_DIR_ENV}).')


def _settings() -> list[str]:
  """Name parts for the flags that differ from their defaults (none by default)."""
  return [f'{prefix}{flag.value:g}' if isinstance(flag.value, float)
          else f'{prefix}{flag.value}'
          for prefix, flag in (('epochs', _EPOCHS), ('batch', _BATCH),
                               ('lr', _LR), ('', _SCHEDULE), ('', _OPTIMIZER))
          if flag.value != flag.default]


def config_for(seed: int) -> config_lib.VAEConfig:
  steps = _EPOCHS.value * TRAIN_EXAMPLES // _BATCH.value
  per_call = _STEPS_PER_CALL.value
  every = max(1, steps // _EVALUATIONS.value // per_call) * per_call
  return config_lib.VAEConfig(
      batch_size=_BATCH.value, learning_rate=_LR.value,
      lr_schedule=_SCHEDULE.value, optimizer=_OPTIMIZER.value, steps=steps,
      seed=seed, eval_every=every,
      checkpoint_every=every, steps_per_call=per_call,
      nll_samples=_NLL_SAMPLES.value)


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
  lines = [
      f'One-stochastic-layer VAE (784-200-200-50, Bernoulli), {_EPOCHS.value} epochs '
      f'at batch {_BATCH.value}, {_OPTIMIZER.value} at lr {_LR.value:g} '
      f'({_SCHEDULE.value} schedule); '
      f'test NLL with k = {_NLL_SAMPLES.value}.', '',
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
                      {'epochs': _EPOCHS.value, 'lr_schedule': _SCHEDULE.value,
                       'learning_rate': _LR.value, 'optimizer': _OPTIMIZER.value,
                       'batch_size': _BATCH.value,
                       'nll_samples': _NLL_SAMPLES.value,
                       'published_nll': PUBLISHED_NLL, 'runs': rows})


if __name__ == '__main__':
  app.run(main)
