r"""Stacked MNIST: the paper's two DCGAN schedules, with and without the regulariser.

    TFDS_MANUAL_DIR=/path/to/mnist python -m benchmarks.stacked_mnist
    python -m benchmarks.stacked_mnist --epochs=50          # the full protocol (GPU/TPU)
    python -m benchmarks.stacked_mnist --seeds=1 --exp1_steps=200 --exp2_steps=40   # a look

Each run is the recipe ``configs/gan_stacked_mnist_<schedule>.py`` with its
λ, seed, length and width set. Arms: ``exp1`` (BatchNorm; 1 D update, snapshot, 2 G updates on one z) and
``exp2`` (no BatchNorm; 5 D updates, snapshot, 5 z × 2 G updates), each with
each λ of --lambdas (default 0, the control, and the paper's 5), over --seeds
seeds.
Everything else is the paper's code: DCGAN width 64 at 28×28×3, z ∈ R¹⁰⁰, batch
64, Adam(2e-4, β₁ = 0.5).

Metrics (vi_gen/metrics): 26,000 samples labelled channel by channel by the
project's fixed MNIST classifier → modes covered (of 1,000) and KL(histogram ‖
uniform); the Fréchet distance in the classifier's feature space (three channels
concatenated) against 26,000 stacked test digits, next to its floor (26,000 train
against the same test set). Evaluated --evals times per run, for the FD curve.

Budget: by default both schedules consume the same data and G updates — 6,000 D
updates and 12,000 G updates (exp1: 6,000 stages; exp2: 1,200) — which takes
roughly 25 minutes per run on two CPU cores. --epochs=E instead trains E epochs
of the 60,000 training digits per D update (the paper: 50). Runs live in
--workdir (one folder per schedule, length, λ and seed) and are resumed, so an
interrupted benchmark picks up where it stopped. Each finished run (one at a
time; --bundle's arms live in their workdir only) is appended
to ``--out_dir/<--name>.runs.jsonl`` with its configuration and scores and is
not trained again, even where --workdir is gone (a new checkout): a grid may
span sittings. Writes --out_dir/<--name>.{md,json,png}; the plot is each arm's
FD against G updates, and modes and KL against λ per schedule.

``--shard=k/n`` trains only runs k, k+n, … and writes no table; on a CPU with
c cores, c single-threaded processes (as in :mod:`benchmarks.collapse`) share
the work, and a last invocation without ``--shard`` writes the table from
their finished runs. ``--table_only`` trains nothing and writes the table from
the runs recorded so far (paired differences over the seeds both arms have).

``--bundle`` trains each arm's seeds as one many-seed run
(``--num_seeds``, in ``--workdir/<arm>_seeds0-<N-1>``, each seed's records in
its ``seed<k>/``). By default it does so on a GPU or TPU and not on a CPU,
where it measured no faster (``benchmarks/results/seeds_speed.md``).
"""

import dataclasses
import json
import os
import time

from absl import app
from absl import flags
from absl import logging
import jax
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from benchmarks import stats  # pylint: disable=g-import-not-at-top
from experiments import quiet_logs  # pylint: disable=g-import-not-at-top
from vi_gen import records as records_lib
from vi_gen.training import adversarial
from vi_gen.training import config as config_lib
import configs

_SEEDS = flags.DEFINE_integer('seeds', 3, 'Seeds per arm.')
_LAMBDAS = flags.DEFINE_list('lambdas', ['0', '5'],
                              'λ of the arms per schedule (0: the control).')
_NAME = flags.DEFINE_string('name', 'stacked_mnist', 'Results file name.')
_SHARD = stats.define_shard_flag('runs (schedule, λ, seed in table order)')
_EXP1_STEPS = flags.DEFINE_integer('exp1_steps', 6000, 'Stages per exp1 run.')
_EXP2_STEPS = flags.DEFINE_integer('exp2_steps', 1200, 'Stages per exp2 run.')
_EPOCHS = flags.DEFINE_float(
    'epochs', None, 'If set, train this many epochs of D updates per run instead '
    'of --exp1_steps/--exp2_steps (the paper: 50).')
_EVALS = flags.DEFINE_integer('evals', 4, 'Evaluations per run (FD curve points).')
_WIDTH = flags.DEFINE_integer('width', 64, 'DCGAN base width (the paper: 64).')
_PRESETS = flags.DEFINE_list('schedules', ['exp1', 'exp2'], 'Schedules to run.')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/benchmarks/stacked_mnist',
                               'Where the runs live (resumed if present).')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results',
                               'Where the table, JSON and plot go.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data_dir.')
_MANUAL_DIR = flags.DEFINE_string('manual_dir', None,
                                  'TFDS manual_dir (default: $TFDS_MANUAL_DIR).')
_TABLE_ONLY = flags.DEFINE_boolean(
    'table_only', False, 'Train nothing: write the table and plot from the runs '
    'recorded so far (arms with some seeds missing show their count; arms with '
    'none are left out).')
_BUNDLE = flags.DEFINE_boolean(
    'bundle', None, "Train each arm's seeds as one many-seed run (--num_seeds; "
    'default: on a GPU or TPU, not on a CPU, where it measured no faster).')

TRAIN_DIGITS = 60_000
# The scores each row summarises (mean ± SE) and pairs against its control.
_SCORES = ('stacked_modes', 'stacked_kl', 'fd')
PUBLISHED = [('DCGAN (VEEGAN Table 2)', 99, 3.4),
             ('PacDCGAN2 (PacGAN Table 2)', 1000, 0.06)]


def arms():
  for preset in _PRESETS.value:
    for reg_lambda in map(float, _LAMBDAS.value):
      yield preset, reg_lambda


def steps_for(preset: str, batch_size: int) -> int:
  d_steps = config_lib.PRESETS[preset]['d_steps']
  if _EPOCHS.value is not None:
    return max(1, round(_EPOCHS.value * TRAIN_DIGITS / (batch_size * d_steps)))
  return _EXP1_STEPS.value if preset == 'exp1' else _EXP2_STEPS.value


def _config(preset: str, reg_lambda: float, **fields) -> config_lib.GANConfig:
  config = configs.load(f'gan_stacked_mnist_{preset}')
  steps = steps_for(preset, config.batch_size)
  every = max(1, steps // _EVALS.value)
  return dataclasses.replace(config, reg_lambda=reg_lambda, width=_WIDTH.value,
                             steps=steps, eval_every=every, checkpoint_every=every,
                             **fields)


def _run_seconds(records: list[dict]) -> float:
  """Training plus evaluation time of a whole run, from its records, so that a
  resumed run counts the parts that earlier calls ran."""
  return sum((r['step'] - prev) / r['stages_per_sec'] + r['eval_seconds']
             for r, prev in zip(records, [0] + [r['step'] for r in records[:-1]]))


def _result(seed: int, steps: int, records: list[dict], run_seconds: float,
            wall: float) -> dict:
  final = records[-1]
  return {'seed': seed, 'steps': steps, 'stacked_modes': final['stacked_modes'],
          'stacked_kl': final['stacked_kl'], 'fd': final['fd'],
          'fd_floor': final['fd_floor'], 'run_seconds': run_seconds,
          'this_call_seconds': wall,
          'curve': [(r['step'], r['fd']) for r in records],
          'modes_curve': [(r['step'], r['stacked_modes'], r['stacked_kl'])
                          for r in records]}


def _train(config, workdir: str) -> float:
  start = time.perf_counter()
  adversarial.train_and_evaluate(config, workdir, data_dir=_DATA_DIR.value,
                                 manual_dir=_MANUAL_DIR.value)
  return time.perf_counter() - start


def run_one(preset: str, reg_lambda: float, seed: int,
            recorded: dict) -> dict:
  """The run's scores: from the record if it is there, else trained (or
  resumed from --workdir) and then recorded."""
  config = _config(preset, reg_lambda, seed=seed)
  key = _run_key(preset, reg_lambda, seed)
  if key in recorded:
    return recorded[key]
  workdir = os.path.join(
      _WORKDIR.value, f'{preset}_steps{config.steps}_evals{_EVALS.value}_width'
      f'{config.width}_lambda{reg_lambda:g}_seed{seed}')
  wall = _train(config, workdir)
  records = records_lib.read_metrics(os.path.join(workdir, 'metrics.jsonl'))
  result = _result(seed, config.steps, records, _run_seconds(records), wall)
  # Through JSON, so that a fresh result and a recorded one are the same.
  result = json.loads(json.dumps(result))
  recorded[key] = result
  stats.record_run(_record_path(), config, result)
  return result


def _run_key(preset: str, reg_lambda: float, seed: int) -> str:
  return stats.run_key(_config(preset, reg_lambda, seed=seed))


def _record_path() -> str:
  return os.path.join(_OUT_DIR.value, f'{_NAME.value}.runs.jsonl')


def run_bundle(preset: str, reg_lambda: float, num_seeds: int) -> list[dict]:
  """The arm's seeds as one many-seed run (``num_seeds``); times are per seed."""
  config = _config(preset, reg_lambda, num_seeds=num_seeds)
  workdir = os.path.join(_WORKDIR.value,
                         f'{preset}_lambda{reg_lambda:g}_seeds0-{num_seeds - 1}')
  wall = _train(config, workdir) / num_seeds
  run_seconds = _run_seconds(records_lib.read_metrics(
      os.path.join(workdir, 'metrics.jsonl'))) / num_seeds
  results = []
  for seed in range(num_seeds):
    records = records_lib.read_metrics(
        os.path.join(workdir, f'seed{seed}', 'metrics.jsonl'))
    if records and records[-1].get('diverged'):
      raise RuntimeError(f'{workdir}: seed {seed} diverged at stage '
                         f'{records[-1]["step"]}')
    results.append(_result(seed, config.steps, records, run_seconds, wall))
  return results


def _printed(runs, preset: str, reg_lambda: float):
  for result in runs:
    print(f'  {preset} λ={reg_lambda:g} seed {result["seed"]}: '
          f'{result["stacked_modes"]} modes, KL {result["stacked_kl"]:.3f}, FD '
          f'{result["fd"]:.2f} (floor {result["fd_floor"]:.2f}), '
          f'{result["run_seconds"] / 60:.1f} min', flush=True)
    yield result


def main(argv):
  del argv
  quiet_logs.install()
  logging.set_verbosity(logging.WARNING)
  bundle = (_BUNDLE.value if _BUNDLE.value is not None
            else jax.default_backend() != 'cpu')
  recorded = stats.recorded_runs(_record_path())
  if _SHARD.value:
    k, n = stats.parse_shard(_SHARD.value)
    mine = [(preset, reg_lambda, seed) for preset, reg_lambda in arms()
            for seed in range(_SEEDS.value)][k::n]
    for preset, reg_lambda, seed in mine:
      list(_printed([run_one(preset, reg_lambda, seed, recorded)], preset,
                    reg_lambda))
    print(f'shard {k}/{n}: its {len(mine)} runs are trained; write the table '
          'with the same command without --shard once every shard has finished.')
    return
  rows = []
  for preset, reg_lambda in arms():
    if _TABLE_ONLY.value:
      keys = (_run_key(preset, reg_lambda, seed) for seed in range(_SEEDS.value))
      runs = [recorded[key] for key in keys if key in recorded]
      if not runs:
        continue
    else:
      runs = (run_bundle(preset, reg_lambda, _SEEDS.value) if bundle else
              (run_one(preset, reg_lambda, seed, recorded)
               for seed in range(_SEEDS.value)))
    runs = list(_printed(runs, preset, reg_lambda))
    row = {'schedule': preset, 'reg_lambda': reg_lambda, 'seeds': len(runs),
           'steps': runs[0]['steps'], 'runs': runs, 'bundled': bundle,
           'fd_floor': float(np.mean([r['fd_floor'] for r in runs])),
           'minutes_per_run': float(np.mean([r['run_seconds'] for r in runs])) / 60}
    for key in _SCORES:
      row[key], row[key + '_se'] = stats.mean_se([r[key] for r in runs])
    control = next((c for c in rows if c['schedule'] == preset
                    and c['reg_lambda'] == 0), None)
    if reg_lambda > 0 and control:
      row['vs_control'] = stats.paired(runs, control['runs'], _SCORES)
    rows.append(row)
  if not rows:
    print(f'No runs recorded in {_record_path()}; no table written.')
    return

  table = markdown_table(rows)
  print('\n' + table)
  stats.write_results(_OUT_DIR.value, _NAME.value, table,
                      {'rows': rows, 'width': _WIDTH.value, 'epochs': _EPOCHS.value})
  plot_curves(rows, os.path.join(_OUT_DIR.value, f'{_NAME.value}.png'))


def markdown_table(rows) -> str:
  lines = [
      'Stacked MNIST, 26,000 samples per evaluation, mean ± standard error over '
      'seeds. FD is in the fixed MNIST classifier\'s feature space (3 × 128); '
      'its floor is real train vs real test at the same count. Minutes are '
      'training plus evaluation per run on this machine. A regularised arm\'s '
      'paired difference is the mean ± standard error over seeds of (arm − its '
      'schedule\'s λ = 0 run of the same seed).', '',
      '| schedule | λ | seeds | stages | modes (of 1000) | KL | FD | FD floor | '
      'min/run | paired vs λ = 0 (modes / KL / FD) |',
      '|---|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    versus = r.get('vs_control')
    versus = (' / '.join(stats.signed_pm(versus, k, d)
                         for k, d in zip(_SCORES, (1, 3, 2)))
              if versus else '')
    lines.append(
        f'| {r["schedule"]} | {r["reg_lambda"]:g} | {r["seeds"]} | {r["steps"]} | '
        f'{r["stacked_modes"]:.1f} ± {r["stacked_modes_se"]:.1f} | '
        f'{r["stacked_kl"]:.3f} ± {r["stacked_kl_se"]:.3f} | '
        f'{r["fd"]:.2f} ± {r["fd_se"]:.2f} | {r["fd_floor"]:.2f} | '
        f'{r["minutes_per_run"]:.1f} | {versus} |')
  lines += ['', 'Published (their own architectures and budgets):', '',
            '| model | modes | KL |', '|---|---|---|']
  lines += [f'| {name} | {modes} | {kl} |' for name, modes, kl in PUBLISHED]
  return '\n'.join(lines) + '\n'


def plot_curves(rows, path: str) -> None:
  """Left: each arm's FD against G updates. Middle and right: modes and KL
  against λ per schedule (mean ± standard error), with the published rows."""
  fig, (ax, ax_modes, ax_kl) = plt.subplots(1, 3, figsize=(15, 4), dpi=100,
                                            layout='constrained')
  for r in rows:
    steps = np.array([s for s, _ in r['runs'][0]['curve']])
    fds = np.array([[fd for _, fd in run['curve']] for run in r['runs']])
    # Plot against G updates so that the two schedules share an axis.
    preset = config_lib.PRESETS[r['schedule']]
    g_updates = steps * preset['g_steps'] * preset['g_repeats']
    mean = fds.mean(0)
    se = fds.std(0, ddof=1) / np.sqrt(len(fds)) if len(fds) > 1 else 0 * mean
    label = f'{r["schedule"]}, λ={r["reg_lambda"]:g}'
    ax.errorbar(g_updates, mean, yerr=se, marker='o', capsize=3, label=label)
  ax.axhline(rows[0]['fd_floor'], color='grey', ls='--', label='floor (real vs real)')
  ax.set(xlabel='G updates', ylabel='Fréchet distance (classifier features)',
         yscale='log', title='FD during training')
  ax.legend(fontsize=8)
  # As benchmarks.collapse's plot: the arms on a log λ axis, the control as a
  # band (mean ± standard error), the published rows as grey lines.
  lambdas = sorted({r['reg_lambda'] for r in rows if r['reg_lambda'] > 0})
  for axis, key, label in ((ax_modes, 'stacked_modes', 'modes (of 1000)'),
                           (ax_kl, 'stacked_kl', 'KL(histogram ‖ uniform)')):
    for schedule, colour in zip(dict.fromkeys(r['schedule'] for r in rows),
                                ('C0', 'C1')):
      arms_ = sorted((r for r in rows if r['schedule'] == schedule
                      and r['reg_lambda'] > 0), key=lambda r: r['reg_lambda'])
      control = [r for r in rows if r['schedule'] == schedule
                 and r['reg_lambda'] == 0]
      stats.plot_arms_and_control(
          axis, arms_, control if lambdas else [], key, colour,
          f'{schedule}, λ > 0', f'{schedule}, λ = 0')
    for (name, modes, kl), style in zip(PUBLISHED, ('--', '-.')):
      axis.axhline(modes if key == 'stacked_modes' else kl, color='grey',
                   ls=style, label=f'published {name}')
    axis.set(xscale='log', xlabel='λ', ylabel=label, title=f'{label} against λ')
    if lambdas:
      axis.set_xticks(lambdas, [f'{v:g}' for v in lambdas])
      axis.minorticks_off()
    axis.legend(fontsize=7)
  fig.savefig(path)
  plt.close(fig)


if __name__ == '__main__':
  app.run(main)
