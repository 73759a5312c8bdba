r"""Mode collapse on the 2D mixtures: λ = 0 against λ > 0 under each anchor policy.

    python -m benchmarks.collapse                    # 10 seeds, ring8 + grid25, 4 arms
    python -m benchmarks.collapse --seeds=3 --config.steps=500 --datasets=ring8   # a look
    python -m benchmarks.collapse --config.steps=10000 --config.lr_decay=cosine \
        --lambdas_previous=10,100,1000 --lambdas_stage=1,10,100 --name=sweep

The protocol is PacGAN's (Lin et al., 2018, Table 1): PacGAN's 2D networks
(vi_gen/models/mlp2d.py), batch 100, z ~ N(0, I₂), 2,500 samples scored after
training, mean ± standard error over seeds. Arms (``--arms``):

* ``control``: λ = 0, one D and one G update per stage;
* ``previous``: λ ∈ --lambdas_previous, G° = G before the previous G update;
* ``stage_control``: λ = 0, one D update then two G updates on the same z;
* ``stage``: λ ∈ --lambdas_stage, same schedule, G° = G at the start of the
  stage (the paper's experiment-1 schedule).

Every arm's seed k starts from the same initial state (the seed fixes it), so
each regularised arm is also reported as its paired difference from its
control (``previous`` from ``control``, ``stage`` from ``stage_control``):
the mean over seeds of (arm − control) and its standard error.

Runs start from a recipe (``--config``, default ``configs/gan_ring8.py``; fields
with ``--config.FIELD=value``); the arms set only λ, the anchor and the G
updates per stage. ``--steps`` (default 1,000) sets the length when
``--config.steps`` is not given, with the rate held constant as the recorded
``collapse.md`` was made (``--config.lr_decay`` sets a decay). Seeds are
``--first_seed`` … ``--first_seed + --seeds − 1``.

Each finished run is appended to ``--out_dir/<name>.runs.jsonl`` with its
configuration; a re-run takes the runs recorded there for the same
configuration instead of training them again, so an interrupted benchmark
continues where it stopped. Results: ``--out_dir/<name>.{md,json}``, and
``<name>.png``, modes and reverse KL against λ for each anchor against its
control's band and the published rows. ``--table_only`` trains nothing and
writes them from the runs recorded so far (arms with missing seeds show their
count; paired differences use the seeds both arms have).

``--shard=k/n`` trains only runs k, k+n, k+2n, … of the benchmark (those not
yet recorded) and writes no table; n processes with k = 0 … n−1 share the record, and a last
invocation without ``--shard`` writes the table from it. On a CPU with c cores,
c single-threaded processes finish sooner than one process using them all
(1.46× on 2 cores, ``benchmarks/results/claim.md``)::

    export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    for k in 0 1; do taskset -c $k python -m benchmarks.collapse --shard=$k/2 ... & done; wait
    python -m benchmarks.collapse ...

A run's float32 arithmetic depends on XLA's threading, so each record keeps
the ``XLA_FLAGS`` it ran under, and the table lists them; compare arms run
under the same flags.

``--bundle`` trains each arm's seeds as one vmapped program
(:mod:`vi_gen.training.seeds`) instead of one after another. By default it
does so on a GPU or TPU and not on a CPU, where it measured no faster
(``benchmarks/results/seeds_speed.md``). Seed k computes the same either way
up to float32 reordering (``tests/test_seeds.py``), which over hundreds of
stages makes it a different draw of the same run.
"""

import dataclasses
import os

from absl import app
from absl import flags
from ml_collections import config_flags
import jax
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from benchmarks import runs2d
from benchmarks import stats
from vi_gen.data import toy2d
from vi_gen.training import config as config_lib
import configs

ARMS = ('control', 'previous', 'stage_control', 'stage')

_SEEDS = flags.DEFINE_integer('seeds', 10, 'Seeds per arm.')
_FIRST_SEED = flags.DEFINE_integer('first_seed', 0, 'The first seed.', lower_bound=0)
_STEPS = flags.DEFINE_integer(
    'steps', 1000, 'Stages per run, unless --config.steps is given.')
_CONFIG = config_flags.DEFINE_config_file(
    'config', configs.path('gan_ring8'),
    'The recipe every arm starts from (default configs/gan_ring8.py); set its '
    'fields with --config.FIELD=value.', lock_config=True)
_DATASETS = flags.DEFINE_list('datasets', ['ring8', 'grid25'], 'Mixtures.')
_ARMS = flags.DEFINE_list('arms', list(ARMS), f'Arms, of {", ".join(ARMS)}.')
_LAMBDAS_PREVIOUS = flags.DEFINE_list('lambdas_previous', ['100'],
                                      'λ values of the anchor=previous arms.')
_LAMBDAS_STAGE = flags.DEFINE_list('lambdas_stage', ['10'],
                                   'λ values of the anchor=stage arms.')
_NAME = flags.DEFINE_string('name', 'collapse', 'Results file name.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results',
                               'Where <name>.md, .json and .runs.jsonl go.')
_SHARD = stats.define_shard_flag('runs of the benchmark')
flags.register_validator(
    'arms', lambda arms: set(arms) <= set(ARMS), f'--arms must be of {ARMS}')
_TABLE_ONLY = flags.DEFINE_boolean(
    'table_only', False, 'Train nothing: write the table and plot from the runs '
    'recorded so far, arms with some seeds missing included (their seeds '
    'counted) and arms with none left out.')
_BUNDLE = flags.DEFINE_boolean(
    'bundle', None, "Train each arm's seeds as one vmapped program (default: on "
    'a GPU or TPU, not on a CPU, where it measured no faster).')

# PacGAN Table 1 (its own architecture and budget), for reference.
PUBLISHED = {
    'ring8': [('GAN', 6.3, 98.2, 0.45), ('ALI', 6.6, 97.6, 0.36),
              ('PacGAN2', 7.9, 95.6, 0.07)],
    'grid25': [('GAN', 17.3, 94.8, 0.70), ('ALI', 24.1, 95.7, 0.14),
               ('PacGAN4', 24.8, 93.6, 0.04)],
}




def arms():
  """(name, overrides, control's name or None) of each arm, in --arms order."""
  out = []
  for arm in ARMS:
    if arm not in _ARMS.value:
      continue
    if arm == 'control':
      out.append(('control (λ=0)', dict(reg_lambda=0.0, anchor='previous',
                                         g_repeats=1), None))
    elif arm == 'previous':
      out += [(f'previous (λ={float(lam):g})',
               dict(reg_lambda=float(lam), anchor='previous', g_repeats=1),
               'control (λ=0)') for lam in _LAMBDAS_PREVIOUS.value]
    elif arm == 'stage_control':
      out.append(('stage control (λ=0, 2 G updates)',
                  dict(reg_lambda=0.0, anchor='stage', g_repeats=2), None))
    else:
      out += [(f'stage (λ={float(lam):g}, 2 G updates)',
               dict(reg_lambda=float(lam), anchor='stage', g_repeats=2),
               'stage control (λ=0, 2 G updates)') for lam in _LAMBDAS_STAGE.value]
  return out


def base_config() -> config_lib.GANConfig:
  """The recipe with its overrides; --steps where --config.steps is not given,
  at the constant rate the recorded collapse.md was made with."""
  given = config_flags.get_override_values(flags.FLAGS['config'])
  fields = {}
  if 'steps' not in given:
    fields['steps'] = _STEPS.value
    if 'lr_decay' not in given:
      fields['lr_decay'] = 'constant'
  return dataclasses.replace(config_lib.from_dict(_CONFIG.value), **fields)


def _cells(base):
  """(dataset, arm name, overrides, control's name, seed configs) per cell."""
  seeds_ = range(_FIRST_SEED.value, _FIRST_SEED.value + _SEEDS.value)
  return [(dataset, name, overrides, control,
           [dataclasses.replace(base, dataset=dataset, seed=seed, **overrides)
            for seed in seeds_])
          for dataset in _DATASETS.value
          for name, overrides, control in arms()]


def _train(configs_, bundle, record_path, recorded, label) -> None:
  """Trains one arm's configs not yet recorded, recording each as it ends."""
  todo = [c for c in configs_ if stats.run_key(c) not in recorded]
  if bundle and todo:
    runs, wall = runs2d.run_bundle(todo)
    done = [(c, s, wall) for c, s in zip(todo, runs)]
  else:
    done = ((c, *runs2d.run_one(c)) for c in todo)  # each trained as it is recorded
  for config, scores, wall in done:
    scores['seconds'] = wall
    scores['xla_flags'] = os.environ.get('XLA_FLAGS', '')
    recorded[stats.run_key(config)] = scores
    stats.record_run(record_path, config, scores)
    num_modes = toy2d.get_mixture(config.dataset).num_modes
    print(f'  {config.dataset} {label} seed {config.seed}: {scores["modes"]}/'
          f'{num_modes} modes, {scores["hq"]:.1f}% HQ, KL '
          f'{scores["reverse_kl"]:.3f} ({wall:.1f} s)', flush=True)


def main(argv):
  del argv
  base = base_config()
  bundle = (_BUNDLE.value if _BUNDLE.value is not None
            else jax.default_backend() != 'cpu')
  record_path = os.path.join(_OUT_DIR.value, f'{_NAME.value}.runs.jsonl')
  recorded = stats.recorded_runs(record_path)
  cells = _cells(base)
  if _SHARD.value:
    k, n = stats.parse_shard(_SHARD.value)
    mine = [(name, c) for _, name, _, _, configs_ in cells
            for c in configs_][k::n]
    for name in dict.fromkeys(name for name, _ in mine):
      _train([c for arm, c in mine if arm == name], bundle, record_path,
             recorded, name)
    print(f'shard {k}/{n}: its {len(mine)} runs are recorded; write the table '
          'with the same command without --shard once every shard has finished.')
    return

  rows, by_name, missing = [], {}, []
  for dataset, name, overrides, control, configs_ in cells:
    if not _TABLE_ONLY.value:
      _train(configs_, bundle, record_path, recorded, name)
    runs = [{**recorded[stats.run_key(c)], 'seed': c.seed} for c in configs_
            if stats.run_key(c) in recorded]
    if len(runs) < len(configs_):
      missing.append(f'{dataset} {name}: {len(configs_) - len(runs)} of '
                     f'{len(configs_)} seeds not run')
    if not runs:
      continue
    row = {'dataset': dataset, 'arm': name, **overrides,
           'seeds': len(runs), 'first_seed': _FIRST_SEED.value,
           'steps': base.steps, 'bundled': bundle,
           'wall_s_per_run': float(np.median([r['seconds'] for r in runs])),
           'diverged': sum(r['diverged_at'] > 0 for r in runs),
           'runs': runs}
    for key in ('modes', 'hq', 'reverse_kl'):
      row[key], row[key + '_se'] = stats.mean_se([r[key] for r in runs])
    if (dataset, control) in by_name:
      row['control'] = control
      row['vs_control'] = stats.paired(runs, by_name[dataset, control]['runs'],
                                        ('modes', 'hq', 'reverse_kl'))
    by_name[dataset, name] = row
    rows.append(row)
    print(_format_row(row), flush=True)

  table = markdown_table(rows, base)
  if missing:
    table += '\nNot run (in the record): ' + '; '.join(missing) + '.\n'
  print('\n' + table)
  stats.write_results(_OUT_DIR.value, _NAME.value, table,
                      {'config': dataclasses.asdict(base), 'rows': rows,
                       'missing': missing})
  if any(r['reg_lambda'] > 0 for r in rows):
    path = os.path.join(_OUT_DIR.value, f'{_NAME.value}.png')
    plot_lambdas(rows, path)
    print(f'plot: {path}')


def _format_row(row):
  return (f'{row["dataset"]:7s} {row["arm"]:34s} modes {row["modes"]:.1f} ± '
          f'{row["modes_se"]:.1f}  HQ {row["hq"]:.1f} ± {row["hq_se"]:.1f}%  '
          f'KL {row["reverse_kl"]:.3f} ± {row["reverse_kl_se"]:.3f}  '
          f'{row["wall_s_per_run"]:.1f} s/run')


def markdown_table(rows, base):
  decay = ('' if base.lr_decay == 'constant' else
           f', {base.lr_decay} decay' + (f' over the last {base.lr_decay_stages}'
                                         if base.lr_decay_stages else ''))
  first = rows[0]['first_seed']
  last = first + max(r['seeds'] for r in rows) - 1
  lines = [
      f'Budget: {base.steps} stages per run, batch {base.batch_size}, '
      f'Adam({base.g_lr:g}, β₁={base.beta1:g}){decay}, seeds {first}–{last} '
      '(an arm with fewer has its count in "seeds"); mean ± standard error; '
      '2,500 samples scored after training. "vs control": the mean over seeds '
      'of (arm − its control), same seeds and initialisation, ± its standard '
      'error.', '',
      '| dataset | arm | seeds | modes | HQ % | reverse KL | vs control: modes / '
      'HQ / KL | median wall s/run | diverged |',
      '|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    versus = (f'{stats.signed_pm(r["vs_control"], "modes", 1)} / '
              f'{stats.signed_pm(r["vs_control"], "hq", 1)} / '
              f'{stats.signed_pm(r["vs_control"], "reverse_kl", 3)}'
              if 'vs_control' in r else '')
    if 'vs_control' in r and r['vs_control']['seeds'] != r['seeds']:
      versus += f' ({r["vs_control"]["seeds"]} paired seeds)'
    lines.append(
        f'| {r["dataset"]} | {r["arm"]} | {r["seeds"]} | {r["modes"]:.1f} ± '
        f'{r["modes_se"]:.1f} '
        f'| {r["hq"]:.1f} ± {r["hq_se"]:.1f} | {r["reverse_kl"]:.3f} ± '
        f'{r["reverse_kl_se"]:.3f} | {versus} | {r["wall_s_per_run"]:.1f} | '
        f'{r["diverged"]} |')
  xla_flags = sorted({run.get('xla_flags') or '(none)' for r in rows
                      for run in r['runs']})
  if xla_flags != ['(none)']:
    lines += ['', 'XLA_FLAGS of the runs: ' + '; '.join(f'`{f}`' for f in xla_flags)
              + '.']
  lines += ['', 'Published, PacGAN Table 1 (its networks, 400 epochs):', '',
            '| dataset | model | modes | HQ % | reverse KL |', '|---|---|---|---|---|']
  for dataset in dict.fromkeys(r['dataset'] for r in rows):
    for model, modes, hq, kl in PUBLISHED.get(dataset, []):
      lines.append(f'| {dataset} | {model} | {modes} | {hq} | {kl} |')
  return '\n'.join(lines) + '\n'


def plot_lambdas(rows, path: str) -> None:
  """Modes and reverse KL against λ, per dataset: each anchor's arms with
  their standard errors, its control as a band, the published rows as lines."""
  datasets = list(dict.fromkeys(r['dataset'] for r in rows))
  fig, axes = plt.subplots(len(datasets), 2, figsize=(10, 3.6 * len(datasets)),
                           dpi=100, squeeze=False)
  families = {1: ('previous', 'control', 'C0'),
              2: ('stage (2 G updates)', 'stage control', 'C1')}
  for ax_row, dataset in zip(axes, datasets):
    mine = [r for r in rows if r['dataset'] == dataset]
    lambdas = sorted({r['reg_lambda'] for r in mine if r['reg_lambda'] > 0})
    for ax, key, label in zip(ax_row, ('modes', 'reverse_kl'),
                              ('modes covered', 'reverse KL')):
      for g_repeats, (family, control_name, colour) in families.items():
        arms_ = sorted((r for r in mine if r['g_repeats'] == g_repeats
                        and r['reg_lambda'] > 0), key=lambda r: r['reg_lambda'])
        control = [r for r in mine if r['g_repeats'] == g_repeats
                   and r['reg_lambda'] == 0]
        stats.plot_arms_and_control(
            ax, arms_, control if lambdas else [], key, colour,
            f'{family}, λ > 0', f'{control_name} (λ = 0)')
      column = {'modes': 0, 'reverse_kl': 2}[key]
      # The published plain GAN and PacGAN rows (ALI's is left out).
      for (model, *scores), ls in zip(PUBLISHED.get(dataset, [])[::2], ('--', '-.')):
        ax.axhline(scores[column], color='grey', ls=ls,
                   label=f'published {model}')
      ax.set(xscale='log', xlabel='λ', ylabel=label, title=f'{dataset}: {label}')
      if lambdas:
        ax.set_xticks(lambdas, [f'{lam:g}' for lam in lambdas])
    ax_row[0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


if __name__ == '__main__':
  app.run(main)
