r"""Stability: does eq. 26's term widen the settings in which a GAN trains?

    python -m benchmarks.stability                   # every task, 5 seeds per cell
    python -m benchmarks.stability --tasks=ring8 --seeds=2 --steps_2d=300   # a look

The paper says the missing term is why GANs must be trained cautiously and that
the regulariser makes training stable. This benchmark tests that directly. Per
task, a grid of

* learning rate: the recipe's G and D rates times each of ``--lr_multipliers``
  (default 1, 3, 10);
* G updates on each minibatch of z per stage (``g_repeats``):
  ``--g_repeats`` (default 1, 2, 5);
* λ = 0 and the task's λ (``--lambdas``),

``--seeds`` runs per cell (seed k of every cell starts from the same
initialisation). Tasks: ``ring8`` and ``grid25`` (the recipe
``configs/gan_ring8.py``: PacGAN's networks, batch 100, Adam, cosine decay,
at ``--steps_2d`` stages, anchor ``--anchor_2d``) and ``mnist_exp1`` and
``mnist_exp2`` (the paper's DCGAN on MNIST with schedule exp1 or exp2 at
``--steps_exp1`` / ``--steps_exp2`` stages, anchor: G at the stage's start).

**Outcomes**, decided per run from its final samples:

* *diverged*: a loss or parameter stopped being finite during training;
* *unfit* (2D only): not diverged, and fewer than half of 2,500 samples are
  high quality (HQ < 50%): the generator has not reached the modes;
* *collapsed*: neither, and the samples' mode histogram is at least as
  concentrated as a uniform one over a quarter of the modes:
  KL(histogram ‖ uniform) ≥ log 4. 2D: the high-quality samples over the
  mixture's modes (the protocol's reverse KL; ≤ 2 effective modes of ring8's 8,
  6.25 of grid25's 25); MNIST: the fixed classifier's digits of the FD's
  samples (2.5 effective digits of 10);
* *succeeded*: none of these.

The table gives, per cell, how many runs end each way, the mean final
scores and, for the cells with the term, the paired difference from the same
seeds at λ = 0 in the main score (reverse KL in 2D, FD on MNIST); the heat
map (``<name>.png``) the share that succeeded. A cell
*trains* when at least ``--trains_at`` of its runs succeed; the summary counts
such cells with and without the term.

Runs are recorded in ``--out_dir/<name>.runs.jsonl`` as they finish and reused
on re-run; ``--shard=k/n`` and ``--table_only`` work as in
:mod:`benchmarks.collapse` (two single-threaded processes, one per core, are
the fastest use of a 2-core CPU). MNIST runs train in
``--workdir/<cell>_seed<k>``; their checkpoints are deleted once recorded.
"""

import dataclasses
import math
import os
import shutil
import time

from absl import app
from absl import flags
import jax
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from benchmarks import runs2d  # pylint: disable=g-import-not-at-top
from benchmarks import stats
from vi_gen import records as records_lib
from vi_gen.training import adversarial
from vi_gen.training import loop
import configs

TASKS = ('ring8', 'grid25', 'mnist_exp1', 'mnist_exp2')
COLLAPSE_KL = math.log(4)  # a uniform histogram over a quarter of the modes
UNFIT_HQ = 50.0
OUTCOMES = ('diverged', 'unfit', 'collapsed', 'succeeded')

_TASKS = flags.DEFINE_list('tasks', list(TASKS), f'Of {", ".join(TASKS)}.')
_LR_MULTIPLIERS = flags.DEFINE_list('lr_multipliers', ['1', '3', '10'],
                                    "Multiples of the recipe's G and D rates.")
_G_REPEATS = flags.DEFINE_list('g_repeats', ['1', '2', '5'],
                               'G updates on each minibatch of z per stage.')
_LAMBDAS = flags.DEFINE_list(
    'lambdas', ['ring8:100', 'grid25:10', 'mnist_exp1:5', 'mnist_exp2:5'],
    'task:λ of the regularised cells (the other cells have λ = 0).')
_ANCHOR_2D = flags.DEFINE_enum('anchor_2d', 'previous', ['previous', 'stage'],
                               "The 2D tasks' anchor G°.")
_STEPS_2D = flags.DEFINE_integer('steps_2d', 5000, 'Stages per 2D run.')
_STEPS_EXP1 = flags.DEFINE_integer('steps_exp1', 500, 'Stages per mnist_exp1 run.')
_STEPS_EXP2 = flags.DEFINE_integer('steps_exp2', 100, 'Stages per mnist_exp2 run.')
_MNIST_SAMPLES = flags.DEFINE_integer(
    'mnist_samples', 10_000, 'Samples scored per MNIST run (FD and digits).')
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Runs per cell.')
_FIRST_SEED = flags.DEFINE_integer('first_seed', 0, 'The first seed.', lower_bound=0)
_TRAINS_AT = flags.DEFINE_integer(
    'trains_at', 3, 'A cell trains when at least this many of its runs succeed.')
_NAME = flags.DEFINE_string('name', 'stability', 'Results file name.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results',
                               'Where <name>.md, .json, .png and .runs.jsonl go.')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/benchmarks/stability',
                               "Where the MNIST runs' workdirs go.")
_SHARD = stats.define_shard_flag()
flags.register_validator('tasks', lambda t: set(t) <= set(TASKS),
                         f'--tasks must be of {TASKS}')
_TABLE_ONLY = flags.DEFINE_boolean(
    'table_only', False, 'Train nothing: write the table and heat map from the '
    'runs recorded so far.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data_dir (MNIST).')
_MANUAL_DIR = flags.DEFINE_string('manual_dir', None,
                                  'TFDS manual_dir (default: $TFDS_MANUAL_DIR).')


def task_lambda(task: str) -> float:
  given = dict(item.split(':') for item in _LAMBDAS.value)
  if task not in given:
    raise app.UsageError(f'--lambdas gives no λ for task {task}')
  return float(given[task])


def base_config(task: str):
  """The task's recipe at its --steps_* length, scored once at the end."""
  if task in ('ring8', 'grid25'):
    return configs.load('gan_ring8', dataset=task, steps=_STEPS_2D.value,
                        anchor=_ANCHOR_2D.value)
  preset = task.split('_')[1]
  steps = _STEPS_EXP1.value if preset == 'exp1' else _STEPS_EXP2.value
  return configs.recipe('mnist', preset, steps=steps, eval_every=steps,
                        checkpoint_every=steps, eval_samples=_MNIST_SAMPLES.value)


def inert(config) -> bool:
  """Whether λ cannot act: with the anchor at the stage's start and one G
  update per stage, that update is made at G = G°, where the term's gradient
  is 0, so the run is the λ = 0 run."""
  return (config.reg_lambda > 0 and config.anchor == 'stage'
          and config.g_steps * config.g_repeats == 1)


@dataclasses.dataclass(frozen=True)
class Cell:
  task: str
  name: str
  reg_lambda: float  # the cell's λ; an inert cell's runs have λ = 0
  lr_multiplier: float
  configs: list  # one per seed
  inert: bool


def cells() -> list[Cell]:
  """Every cell, in table order. An :func:`inert` cell takes its λ = 0 twin's
  runs."""
  out = []
  for task in _TASKS.value:
    base = base_config(task)
    for reg_lambda in (0.0, task_lambda(task)):
      for mult in map(float, _LR_MULTIPLIERS.value):
        for g_repeats in map(int, _G_REPEATS.value):
          name = f'{task}_lambda{reg_lambda:g}_lr{mult:g}x_g{g_repeats}'
          # Another number of G updates than exp1's or exp2's is a custom
          # schedule with the preset's other fields.
          preset = base.preset if g_repeats == base.g_repeats else 'custom'
          seed_configs = [
              dataclasses.replace(
                  base, reg_lambda=reg_lambda, g_repeats=g_repeats, preset=preset,
                  g_lr=base.g_lr * mult, d_lr=base.d_lr * mult, seed=seed)
              for seed in range(_FIRST_SEED.value,
                                _FIRST_SEED.value + _SEEDS.value)]
          is_inert = inert(seed_configs[0])
          if is_inert:
            seed_configs = [dataclasses.replace(c, reg_lambda=0.0)
                            for c in seed_configs]
          out.append(Cell(task, name, reg_lambda, mult, seed_configs, is_inert))
  return out


def outcome(scores: dict) -> str:
  """The run's outcome (see the module docstring)."""
  if scores['diverged_at']:
    return 'diverged'
  if 'hq' in scores:
    if scores['hq'] < UNFIT_HQ:
      return 'unfit'
    kl = scores['reverse_kl']
  else:
    kl = scores['digit_kl']
  return 'collapsed' if kl >= COLLAPSE_KL else 'succeeded'


def run_mnist(config, workdir: str) -> tuple[dict, float]:
  """Trains one MNIST run; its final scores and seconds (trained afresh)."""
  shutil.rmtree(workdir, ignore_errors=True)  # a run cut short starts again
  start = time.perf_counter()
  try:
    final = adversarial.train_and_evaluate(config, workdir,
                                           data_dir=_DATA_DIR.value,
                                           manual_dir=_MANUAL_DIR.value)
    scores = {key: final[key] for key in ('fd', 'fd_floor', 'digit_modes',
                                          'digit_kl')}
    scores['diverged_at'] = 0
  except loop.NonFiniteLossError as e:
    records = records_lib.read_metrics(os.path.join(workdir, 'metrics.jsonl'))
    scores = {'diverged_at': records[-1]['step'] + 1 if records else 1,
              'error': str(e).split(';')[0]}
  shutil.rmtree(os.path.join(workdir, 'checkpoints'), ignore_errors=True)
  return scores, time.perf_counter() - start


def _train(task, name, todo, record_path, recorded) -> None:
  for config in todo:
    if task.startswith('mnist'):
      scores, wall = run_mnist(
          config, os.path.join(_WORKDIR.value, f'{name}_seed{config.seed}'))
    else:
      scores, wall = runs2d.run_one(config)
    scores['seconds'] = wall
    scores['xla_flags'] = os.environ.get('XLA_FLAGS', '')
    scores['outcome'] = outcome(scores)
    recorded[stats.run_key(config)] = scores
    stats.record_run(record_path, config, scores)
    print(f'  {name} seed {config.seed}: {scores["outcome"]} '
          f'({_describe(scores)}; {wall:.1f} s)', flush=True)


def _describe(scores: dict) -> str:
  if 'hq' in scores:
    return (f'{scores["modes"]} modes, {scores["hq"]:.1f}% HQ, KL '
            f'{scores["reverse_kl"]:.3f}')
  if 'fd' in scores:
    return (f'{scores["digit_modes"]} digits, KL {scores["digit_kl"]:.3f}, FD '
            f'{scores["fd"]:.1f}')
  return scores.get('error', 'diverged')


def summarise(cell: Cell, runs: list[dict]) -> dict:
  task, config = cell.task, cell.configs[0]
  row = {'task': task, 'cell': cell.name, 'reg_lambda': cell.reg_lambda,
         'lr_multiplier': cell.lr_multiplier, 'g_repeats': config.g_repeats,
         'inert': cell.inert, 'g_lr': config.g_lr, 'seeds': len(runs),
         'wall_s_per_run': float(np.median([r['seconds'] for r in runs])),
         'runs': runs}
  for kind in OUTCOMES:
    row[kind] = sum(r['outcome'] == kind for r in runs)
  finite = _finite(runs)
  keys = (('modes', 'hq', 'reverse_kl') if task in ('ring8', 'grid25')
          else ('digit_modes', 'digit_kl', 'fd'))
  for key in keys:
    row[key], row[key + '_se'] = (stats.mean_se([r[key] for r in finite])
                                  if finite else (float('nan'),) * 2)
  return row


def add_paired(rows) -> None:
  """Give each acting λ > 0 row ``vs_control``: the mean ± standard error over
  seeds of (its run − its λ = 0 twin's run) in the task's main score (reverse
  KL in 2D, FD on MNIST), over the seeds where neither diverged."""
  twins = {(r['task'], r['lr_multiplier'], r['g_repeats']): r
           for r in rows if r['reg_lambda'] == 0}
  for row in rows:
    twin = twins.get((row['task'], row['lr_multiplier'], row['g_repeats']))
    if row['reg_lambda'] == 0 or row['inert'] or twin is None:
      continue
    key = 'reverse_kl' if 'hq' in row else 'fd'
    row['vs_control'] = {'score': key, **stats.paired(
        _finite(row['runs']), _finite(twin['runs']), [key])}


def _finite(runs: list[dict]) -> list[dict]:
  return [r for r in runs if not r['diverged_at']]


def main(argv):
  del argv
  # Seeds of a cell compile to the same programs: compile each once.
  jax.config.update('jax_compilation_cache_dir',
                    os.path.join(_WORKDIR.value, 'jax_cache'))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  record_path = os.path.join(_OUT_DIR.value, f'{_NAME.value}.runs.jsonl')
  recorded = stats.recorded_runs(record_path)
  all_cells = cells()
  if _SHARD.value:
    k, n = stats.parse_shard(_SHARD.value)
    unique = {}  # an inert cell's runs are its λ = 0 twin's
    for cell in all_cells:
      for c in cell.configs:
        unique.setdefault(stats.run_key(c), (cell, c))
    mine = list(unique.values())[k::n]
    by_cell = {}  # cell name -> (cell, this shard's configs of it)
    for cell, c in mine:
      by_cell.setdefault(cell.name, (cell, []))[1].append(c)
    for cell, todo in by_cell.values():
      _train(cell.task, cell.name,
             [c for c in todo if stats.run_key(c) not in recorded],
             record_path, recorded)
    print(f'shard {k}/{n}: its {len(mine)} runs are recorded; write the table '
          'with the same command without --shard once every shard has finished.')
    return

  rows, missing = [], []
  for cell in all_cells:
    if not _TABLE_ONLY.value:
      _train(cell.task, cell.name, [c for c in cell.configs
                                    if stats.run_key(c) not in recorded],
             record_path, recorded)
    runs = [{**recorded[stats.run_key(c)], 'seed': c.seed} for c in cell.configs
            if stats.run_key(c) in recorded]
    if len(runs) < len(cell.configs):
      missing.append(f'{cell.name}: {len(cell.configs) - len(runs)} of '
                     f'{len(cell.configs)}')
    if runs:
      rows.append(summarise(cell, runs))

  add_paired(rows)
  table = markdown_table(rows)
  if missing:
    table += '\nNot run (in the record): ' + '; '.join(missing) + '.\n'
  print('\n' + table)
  stats.write_results(_OUT_DIR.value, _NAME.value, table,
                      {'rows': rows, 'missing': missing,
                       'collapse_kl': COLLAPSE_KL, 'unfit_hq': UNFIT_HQ,
                       'trains_at': _TRAINS_AT.value})
  if rows:
    path = os.path.join(_OUT_DIR.value, f'{_NAME.value}.png')
    plot_heat_map(rows, path)
    print(f'heat map: {path}')


def _scores_text(row) -> str:
  if 'hq' in row:
    return (f'{row["modes"]:.1f} ± {row["modes_se"]:.1f} | {row["hq"]:.1f} ± '
            f'{row["hq_se"]:.1f} | {row["reverse_kl"]:.3f} ± '
            f'{row["reverse_kl_se"]:.3f}')
  return (f'{row["digit_modes"]:.1f} ± {row["digit_modes_se"]:.1f} | '
          f'{row["digit_kl"]:.3f} ± {row["digit_kl_se"]:.3f} | {row["fd"]:.1f} ± '
          f'{row["fd_se"]:.1f}')


def _paired_text(row) -> str:
  paired = row.get('vs_control')
  if not paired or not paired['seeds']:
    return ''
  key = paired['score']
  return stats.signed_pm(paired, key, 3 if key == 'reverse_kl' else 1)


def trained_cells(rows, task: str, reg_lambda_positive: bool) -> tuple[int, int]:
  mine = [r for r in rows if r['task'] == task
          and (r['reg_lambda'] > 0) == reg_lambda_positive]
  return sum(r['succeeded'] >= _TRAINS_AT.value for r in mine), len(mine)


def markdown_table(rows) -> str:
  lines = [
      'Outcomes per cell (runs that diverged / were unfit / collapsed / '
      'succeeded; definitions in `benchmarks/stability.py`), and the mean ± '
      'standard error of the final scores over the runs that did not diverge.',
      '']
  for task in dict.fromkeys(r['task'] for r in rows):
    mine = [r for r in rows if r['task'] == task]
    two_d = 'hq' in mine[0]
    score_head = ('modes | HQ % | reverse KL' if two_d
                  else 'digits | digit KL | FD')
    paired_head = ('reverse KL' if two_d else 'FD') + ' vs λ = 0, paired'
    config = base_config(task)
    lines += [f'**{task}** ({config.steps} stages, base rate {config.g_lr:g}'
              + (f', anchor {config.anchor}' if two_d else
                 f', schedule {config.preset} with its G updates per z varied')
              + ')', '',
              f'| λ | lr × | G updates | runs | diverged | unfit | collapsed | '
              f'succeeded | {score_head} | {paired_head} | median s/run |',
              '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in mine:
      lines.append(
          f'| {r["reg_lambda"]:g}{" †" if r["inert"] else ""} | '
          f'{r["lr_multiplier"]:g} | {r["g_repeats"]} | '
          f'{r["seeds"]} | {r["diverged"]} | {r["unfit"]} | {r["collapsed"]} | '
          f'{r["succeeded"]} | {_scores_text(r)} | {_paired_text(r)} | '
          f'{r["wall_s_per_run"]:.0f} |')
    lines += ['', 'The paired column: the mean ± standard error of (run − '
              'its λ = 0 twin: the same initialisation and setting) over the '
              'seeds where neither diverged.']
    if any(r.get('inert') for r in mine):
      lines += ['', '† The λ = 0 runs: with one G update per stage against G° '
                "= G at the stage's start the term's gradient is 0."]
    plain, plain_of = trained_cells(rows, task, False)
    reg, reg_of = trained_cells(rows, task, True)
    positive = sorted({r['reg_lambda'] for r in mine if r['reg_lambda'] > 0})
    reg_at = ('λ = ' + ', '.join(f'{v:g}' for v in positive) if positive
              else 'λ > 0 (none finished yet)')
    lines += ['', f'Cells that train (≥ {_TRAINS_AT.value} runs succeed): '
              f'{plain} of {plain_of} at λ = 0, {reg} of {reg_of} at '
              f'{reg_at}.', '']
  return '\n'.join(lines)


def plot_heat_map(rows, path: str) -> None:
  """Per task, the share of runs that succeeded over (lr ×, G updates), at
  λ = 0 and at the task's λ; each square is annotated succeeded/runs and the
  counts that diverged (d), were unfit (u) and collapsed (c); † marks an
  inert cell (its runs are its λ = 0 twin's)."""
  tasks = list(dict.fromkeys(r['task'] for r in rows))
  fig, axes = plt.subplots(len(tasks), 2, figsize=(8, 3.2 * len(tasks)),
                           dpi=100, squeeze=False, layout='constrained')
  for ax_row, task in zip(axes, tasks):
    mine = [r for r in rows if r['task'] == task]
    mults = sorted({r['lr_multiplier'] for r in mine})
    repeats = sorted({r['g_repeats'] for r in mine})
    for ax, positive in zip(ax_row, (False, True)):
      grid = np.full((len(repeats), len(mults)), np.nan)
      side = [r for r in mine if (r['reg_lambda'] > 0) == positive]
      for r in side:
        i, j = repeats.index(r['g_repeats']), mults.index(r['lr_multiplier'])
        grid[i, j] = r['succeeded'] / r['seeds']
        mark = ' †' if r.get('inert') else ''
        ax.text(j, i, f"{r['succeeded']}/{r['seeds']}{mark}\nd{r['diverged']} "
                f"u{r['unfit']} c{r['collapsed']}", ha='center', va='center',
                fontsize=8)
      image = ax.imshow(grid, vmin=0, vmax=1, cmap='RdYlGn', origin='lower')
      if side:
        title = f"{task}, λ = {side[0]['reg_lambda']:g}"
      else:
        title = f"{task}, λ {'>' if positive else '='} 0: no runs yet"
      ax.set(xticks=range(len(mults)), xticklabels=[f'×{m:g}' for m in mults],
             yticks=range(len(repeats)), yticklabels=[str(g) for g in repeats],
             xlabel='learning rate', ylabel='G updates per z', title=title)
  fig.colorbar(image, ax=axes, shrink=0.6, label='share of runs that succeeded')
  fig.savefig(path, bbox_inches='tight')
  plt.close(fig)


if __name__ == '__main__':
  app.run(main)
