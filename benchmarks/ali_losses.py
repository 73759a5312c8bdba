r"""ALI's three generator/encoder losses over seeds: is the paper's eq. 41 as good?

    python -m benchmarks.ali_losses                                  # ring8, grid25, mnist; 5 seeds
    python -m benchmarks.ali_losses --datasets=ring8 --seeds=2 --config.steps=500   # a look
    python -m benchmarks.ali_losses --datasets=ring8 --losses=nonsaturating \
        --config=configs/ali_ring8_long.py --seeds=10       # beats the ring8 ALI row
    python -m benchmarks.ali_losses --datasets=grid25 --losses=nonsaturating \
        --config=configs/ali_grid25_r1.py --seeds=10 --first_seed=30   # and grid25's
    python -m benchmarks.ali_losses --datasets=grid25 --losses=nonsaturating \
        --config=configs/ali_grid25_r1.py --config.ali_r1=0 --config.lr_decay=constant \
        --config.lr_decay_stages=0 --config.steps=400000    # PacGAN's recipe as published

The paper (arXiv 1807.05936, after eq. 43) reports, without figures, that its
VI-derived loss (eq. 41: −log D on both pairs) trains ALI as well as, or
slightly better than, the minimax (eq. 42) and non-saturating (eq. 43) losses.
This benchmark trains ``experiments.ali`` with each loss, everything else
equal, for ``--seeds`` seeds per cell, and reports mean ± standard error:

* ring8 and grid25 (PacGAN's 2D protocol): covered modes, % high-quality
  samples and reverse KL of 2,500 samples, and recon_same_mode, the % of
  points whose G(E(x)) lands within 3σ of their own mode. Each run is the
  recipe ``--config`` (default ``configs/ali_ring8.py``: 4,000 stages at
  Adam(1e-3, β₁ = 0.5), batch 100) with the dataset, loss and seed set, and
  any field changed by ``--config.FIELD=value``. PacGAN's published ALI rows
  (ring 6.6 modes / 97.6% / 0.36, grid 24.1 / 95.7% / 0.14) were trained far
  longer (400,000 iterations at 1e-4) on their own networks.
* MNIST: the recipe ``configs/ali_mnist.py`` for ``--steps_mnist`` stages
  (default 1,000), with the 2D recipe's ``lr_decay`` and ``g_ema``: Fréchet
  distance of 10,000 samples in the fixed classifier's features, next to
  fd_floor (real test against real train), and recon_accuracy, the % of test
  images x whose G(E(x)) the classifier labels as x.

Runs and results whose 2D recipe differs from ``configs/ali_ring8.py`` are
kept apart from the default ones by a suffix naming the difference:
``_cosine`` (lr_decay), then ``_ema<decay>``, then ``_pacgan``
(ali_networks), then ``_lr<rate>`` (g_lr = d_lr), then ``_b1<β₁>``, then
``_batch<size>``, then ``_dsteps<n>``, then ``_reg<λ>``, then
``_r1gamma<γ>``, then ``_decaylast<stages>``, then ``_simultaneous``, then
(decayed runs only, whose schedule follows their length) ``_steps<steps>``
when that is not 4,000. A recipe that differs in a field the suffix cannot
name is refused. The recipe's ``eval_every`` adds evaluations along each run
to its ``metrics.jsonl``, and their scores to the run's record
(``history``); its ``checkpoint_every`` checkpoints it for runs longer than a
sitting.
``--first_seed`` tables seeds from there on, for a recipe chosen from some
seeds' courses and tested on others; its results file ends in
``_firstseed<N>``, and its runs are named as any run of their seed.
For the 2D mixtures the table also says which losses beat the published ALI row
on all three of its scores.

Runs go to ``--workdir/<dataset>_<loss><suffix>_seed<N>``; re-running reuses
finished runs, and resumes unfinished ones from their last checkpoint. Results: stdout and ``--out_dir/ali_losses<suffix>.{md,json}``.
The JSON keeps every run's final scores, so it is also the record of runs whose
directories are gone (another machine, a cleaned ``runs/``): a run whose
directory does not exist is taken from that record when the record has it at
the same length (``--reuse_records``, on by default), and the table says which.
Each run is added to that record as it finishes, so an invocation stopped
part-way (a sitting's end) keeps the runs it finished. The table is written at
the end: its rows replace those of the same dataset and loss in the JSON's
``summary`` (each row with its ``seeds`` and ``steps``), and every other row
and run stays, so a table of one loss leaves the others' in the file. The
markdown shows every row of the summary and marks those from earlier tables. To
share one cell's seeds between processes, give each the same flags and its own
``--only_seeds``: each trains and records just those (the record is written
under a lock) and writes no table; the same command without ``--only_seeds``
then reads every run back and writes the table.
"""

import contextlib
import dataclasses
import json
import os
import sys
import time
from typing import NamedTuple, Optional

from absl import app
from absl import flags
import jax
from ml_collections import config_flags

from benchmarks import stats
from vi_gen import records as records_lib
from vi_gen import checkpoint
from vi_gen import filelock
from vi_gen.data import images
from vi_gen.losses import ali as ali_losses
from vi_gen.training import adversarial
from vi_gen.training import config as config_lib
from vi_gen.training import validation
import configs

_DATASETS = flags.DEFINE_list('datasets', ['ring8', 'grid25', 'mnist'], 'Datasets.')
_LOSSES = flags.DEFINE_list('losses', list(ali_losses.GENERATOR_LOSSES),
                            'E/G losses to compare.')
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Seeds per (dataset, loss).')
_FIRST_SEED = flags.DEFINE_integer(
    'first_seed', 0,
    'The first of the --seeds seeds: a table over seeds first_seed, first_seed + 1, '
    '... For testing a recipe chosen from some seeds\' runs on seeds it has not '
    'seen. Its results file is its own (suffix _firstseed<N>); its runs are the '
    'same seeds\' runs as in any other table.', lower_bound=0)
_ONLY_SEEDS = flags.DEFINE_multi_integer(
    'only_seeds', None,
    'Train and record only these of the --seeds seeds, and write no table: for '
    'invocations that share the seeds of one cell between processes. A last '
    'invocation without it then reads them back and writes the table.')
_STEPS_MNIST = flags.DEFINE_integer('steps_mnist', 1000, 'Stages per MNIST run.')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/benchmarks/ali_losses',
                               'Where the runs go.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results', 'Output directory.')
_MANUAL_DIR = flags.DEFINE_string(
    'manual_dir', None, f'TFDS manual_dir (default: ${images.MANUAL_DIR_ENV}).')
_REUSE_RECORDS = flags.DEFINE_boolean(
    'reuse_records', True,
    'Take a run whose directory is absent from the per-run record in '
    '--out_dir/ali_losses<suffix>.json, when it holds that run at the same length.')
_CONFIG = config_flags.DEFINE_config_file(
    'config', configs.path('ali_ring8'),
    'The recipe of the 2D runs, a file of configs/ (default ali_ring8.py); set '
    'its fields with --config.FIELD=value. The benchmark sets dataset, ali_loss '
    'and seed; the recipe\'s lr_decay and g_ema also apply to the MNIST runs, '
    'which otherwise follow configs/ali_mnist.py.', lock_config=True)

flags.register_multi_flags_validator(
    ['only_seeds', 'seeds', 'first_seed'],
    lambda f: all(f['first_seed'] <= s < f['first_seed'] + f['seeds']
                  for s in f['only_seeds'] or ()),
    '--only_seeds must name seeds in range(--first_seed, --first_seed + --seeds).')

# The 2D recipe the default table runs; run and result names say how a cell's
# recipe differs from it.
_DEFAULT_2D = configs.load('ali_ring8')


class _Setting(NamedTuple):
  """A 2D setting that runs, results and the table name when it differs from
  :data:`_DEFAULT_2D`."""
  fields: tuple[str, ...]  # the GANConfig fields it is; all take one value
  tag: str  # in the run suffix, before the value
  # The table's settings phrase for a value `v`; None where the budget names it.
  phrase: Optional[str]


# In suffix and settings order.
_SETTINGS_2D = (
    _Setting(('g_lr', 'd_lr'), 'lr', '2D learning rate {v}'),
    _Setting(('beta1',), 'b1', '2D Adam β₁ {v}'),
    _Setting(('batch_size',), 'batch', None),
    _Setting(('d_steps',), 'dsteps', '2D D updates per stage {v}'),
    _Setting(('reg_lambda',), 'reg', '2D regulariser λ {v} on ‖G(z) − G°(z)‖²'),
    _Setting(('ali_r1',), 'r1gamma', '2D R1 penalty γ {v} on D'),
    _Setting(('lr_decay_stages',), 'decaylast',
             '2D rates constant until the last {v} stages, decayed over them'))
# Fields the benchmark sets itself, or that do not change what a run trains.
_NOT_NAMED = ('dataset', 'ali_loss', 'seed', 'steps', 'eval_every',
              'checkpoint_every', 'lr_decay', 'g_ema', 'ali_networks',
              'ali_simultaneous')


def config_2d() -> config_lib.GANConfig:
  """The 2D cell's recipe with its overrides."""
  return config_lib.from_dict(_CONFIG.value)


def check_config_2d() -> None:
  """Raises ConfigError for a 2D recipe the benchmark cannot name or run."""
  config = config_2d()
  if config.model != 'ali':
    raise config_lib.ConfigError(f'the recipe trains {config.model}, not ali')
  if config.g_lr != config.d_lr:
    raise config_lib.ConfigError(
        f'g_lr={config.g_lr:g} and d_lr={config.d_lr:g}: the benchmark\'s cells '
        'set both learning rates alike')
  named = {f for row in _SETTINGS_2D for f in row.fields} | set(_NOT_NAMED)
  if unnamed := [f for f in dataclasses.asdict(config)
                 if f not in named
                 and getattr(config, f) != getattr(_DEFAULT_2D, f)]:
    raise config_lib.ConfigError(
        f'{", ".join(unnamed)} differ from configs/ali_ring8.py, and run names '
        'cannot say so: train such a cell with experiments.ali')
  validation.validate_gan(config)


def _set_2d() -> tuple[tuple[_Setting, object], ...]:
  """The settings of :data:`_SETTINGS_2D` that differ from the default, with values."""
  config = config_2d()
  return tuple((row, getattr(config, row.fields[0])) for row in _SETTINGS_2D
               if getattr(config, row.fields[0]) != getattr(_DEFAULT_2D,
                                                            row.fields[0]))


def _changed(holder: flags.FlagHolder) -> bool:
  """Whether a flag's value differs from its default."""
  return holder.value != holder.default


def _differs(field: str) -> bool:
  return getattr(config_2d(), field) != getattr(_DEFAULT_2D, field)


def _text(value) -> str:
  """A flag's value as names and commands spell it: floats by ``:g``."""
  return f'{value:g}' if isinstance(value, float) else str(value)


EQUATION = {'vi': 'eq. 41 (paper)', 'minimax': 'eq. 42 (minimax)',
            'nonsaturating': 'eq. 43 (non-saturating)'}
PUBLISHED_ALI = {'ring8': (6.6, 97.6, 0.36), 'grid25': (24.1, 95.7, 0.14)}
# Seeds per cell of the published 2D rows' protocol (PacGAN; docs/protocols.md).
PROTOCOL_SEEDS_2D = 10
# Per dataset: the scores reported, and the one that ranks the losses
# (with whether larger is better).
SCORES = {'2d': ('modes', 'hq', 'reverse_kl', 'recon_same_mode'),
          'mnist': ('fd', 'fd_floor', 'recon_accuracy')}
PRIMARY = {'2d': ('reverse_kl', False), 'mnist': ('fd', False)}


def _suffix(family: str = '2d') -> str:
  """What sets these runs apart from the default ones, for run and result names.

  The MNIST runs' names carry only the decay and ``g_ema``, since the 2D
  recipe's other fields do not change them.
  """
  config = config_2d()
  suffix = f'_{config.lr_decay}' if _differs('lr_decay') else ''
  if config.g_ema:
    suffix += f'_ema{config.g_ema:g}'
  if family == '2d':
    if _differs('ali_networks'):
      suffix += f'_{config.ali_networks}'
    suffix += ''.join(f'_{row.tag}{_text(value)}' for row, value in _set_2d())
    if config.ali_simultaneous:
      suffix += '_simultaneous'
    if _differs('steps') and config.lr_decay != 'constant':
      # A decayed rate follows the run's length: another length is another run.
      suffix += f'_steps{config.steps}'
  return suffix


def _score_keys(family: str) -> tuple[str, ...]:
  """The scores of a run; with ``--g_ema`` the current G's follow the average's."""
  keys = SCORES[family]
  if config_2d().g_ema:
    keys += tuple(f'current_{k}' for k in keys if k != 'fd_floor')
  return keys


def _family(dataset: str) -> str:
  return 'mnist' if dataset == 'mnist' else '2d'


def _seeds() -> range:
  """The seeds of each cell."""
  return range(_FIRST_SEED.value, _FIRST_SEED.value + _SEEDS.value)


def _results_name() -> str:
  first = f'_firstseed{_FIRST_SEED.value}' if _FIRST_SEED.value else ''
  return 'ali_losses' + _suffix() + first


def _record_path() -> str:
  """The results JSON, which also holds the per-run record."""
  return os.path.join(_OUT_DIR.value, _results_name() + '.json')


def recorded_runs() -> dict:
  """The per-run records of the results JSON an earlier invocation wrote, if any.

  ``{dataset: {loss: [run, ...]}}``, each run as :func:`run_one` returned it.
  The file's name carries every setting but the 2D length at a constant rate,
  so :func:`run_one` checks each record's ``steps``.
  """
  path = _record_path()
  if not _REUSE_RECORDS.value or not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f).get('runs', {})


@contextlib.contextmanager
def _record():
  """The results JSON as a dict, read under its lock and written back on exit.

  Invocations training other seeds (``--only_seeds``) or other losses may
  write the same file: one read-modify-write at a time. A missing file starts
  empty; the file is written aside, then moved into place, so a stop mid-write
  leaves the old one.
  """
  path = _record_path()
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  with filelock.locked(path + '.lock'):
    data = {}
    if os.path.exists(path):
      with open(path) as f:
        data = json.load(f)
    yield data
    with open(path + '.tmp', 'w') as f:
      json.dump(data, f, indent=2)
    os.replace(path + '.tmp', path)


def _add_run(data: dict, dataset: str, loss: str, run: dict) -> None:
  """Puts ``run`` in ``data``'s per-run record, replacing one of its seed and length."""
  runs = data.setdefault('runs', {}).setdefault(dataset, {}).setdefault(loss, [])
  key = (run['seed'], run['steps'])
  runs[:] = sorted([r for r in runs if (r['seed'], r['steps']) != key] + [run],
                   key=lambda r: (r['seed'], r['steps']))


def record_run(dataset: str, loss: str, run: dict) -> None:
  """Adds one finished run to the results JSON's per-run record, now.

  It replaces a record of the same seed and length and keeps every other
  entry of the file as it was.
  """
  with _record() as data:
    _add_run(data, dataset, loss, run)


def _finished(workdir: str, steps: int) -> bool:
  """Whether the run in ``workdir`` has its checkpoint at its last stage."""
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    return False
  ckpt = checkpoint.Checkpointer(workdir)
  try:
    return ckpt.latest_step() == steps
  finally:
    ckpt.close()


def run_one(dataset: str, loss: str, seed: int, records: dict) -> dict:
  """Trains (or resumes, or reuses) one run and returns its final scores.

  A run whose directory does not exist is taken from ``records`` when they
  hold it at this length; it comes back marked ``'recorded': True``. A run
  whose directory is already at its last stage is scored from there, and keeps
  the ``seconds_this_invocation`` of the invocation that trained and recorded
  it rather than this one's few seconds of reading it back.
  """
  family = _family(dataset)
  cell = config_2d()
  if family == '2d':
    config = dataclasses.replace(cell, dataset=dataset, ali_loss=loss, seed=seed)
  else:
    config = configs.load('ali_mnist', dataset=dataset, ali_loss=loss, seed=seed,
                          steps=_STEPS_MNIST.value, lr_decay=cell.lr_decay,
                          g_ema=cell.g_ema)
  steps = config.steps
  config = dataclasses.replace(
      config, eval_every=min(config.eval_every, steps),
      checkpoint_every=min(config.checkpoint_every, steps))
  workdir = os.path.join(_WORKDIR.value,
                         f'{dataset}_{loss}{_suffix(family)}_seed{seed}')
  earlier = next((r for r in records.get(dataset, {}).get(loss, [])
                  if (r['seed'], r['steps']) == (seed, steps)), None)
  if not os.path.exists(workdir) and earlier is not None:
    return {**earlier, 'recorded': True}
  finished = _finished(workdir, steps)
  start = time.perf_counter()
  final = adversarial.train_and_evaluate(config, workdir, manual_dir=_MANUAL_DIR.value)
  if final is None or final['step'] != steps:
    raise RuntimeError(f'{workdir} did not finish')
  keys = _score_keys(family)
  run = {**{k: final[k] for k in keys}, 'seed': seed, 'steps': steps}
  if finished and earlier is not None:
    # Read back, not trained, here: keep what the training invocation recorded.
    run.update({k: earlier[k] for k in ('seconds_this_invocation', 'device')
                if k in earlier})
  else:
    run.update(seconds_this_invocation=time.perf_counter() - start,
               device=_device())
  history = _history(workdir, keys)
  if len(history) > 1:
    run['history'] = history
  return run


def _device() -> str:
  """What trained a run: backend, device kind and JAX version, for its record.

  Seeds of one cell may be trained on different machines; their floats differ
  in the last bits, and the record says which ran where.
  """
  return (f'{jax.default_backend()} ({jax.devices()[0].device_kind}), '
          f'jax {jax.__version__}')


def _history(workdir: str, keys: tuple[str, ...]) -> list[dict]:
  """The run's evaluations (``step`` and ``keys``) from its metrics.jsonl, in order.

  With ``--eval_every`` they go into the run's record, so that a run's course
  outlives its directory as its final scores do.
  """
  records = records_lib.read_metrics(os.path.join(workdir, 'metrics.jsonl'))
  return [{'step': r['step'], **{k: r[k] for k in keys}}
          for r in records if all(k in r for k in keys)]


def summarise(runs: list[dict], family: str) -> dict:
  """A table row: each score's mean and standard error, and the seeds and length."""
  row = {}
  for key in _score_keys(family):
    row[key], row[key + '_se'] = stats.mean_se([r[key] for r in runs])
  return {**row, 'seeds': len(runs), 'steps': runs[0]['steps']}


def verdict(dataset: str, rows: dict) -> str:
  """One sentence: how eq. 41 compares with the better of the standard losses."""
  key, larger_better = PRIMARY[_family(dataset)]
  if 'vi' not in rows or len(rows) < 2:
    return ''
  others = {k: v for k, v in rows.items() if k != 'vi'}
  best = (max if larger_better else min)(others, key=lambda k: others[k][key])
  vi, ref = rows['vi'], others[best]
  gap = vi[key] - ref[key]
  noise = (vi[key + '_se'] ** 2 + ref[key + '_se'] ** 2) ** 0.5
  better = gap > 0 if larger_better else gap < 0
  if abs(gap) <= 2 * noise:
    how = 'within two standard errors of'
  else:
    how = 'better than' if better else 'worse than'
  return (f'{dataset}: eq. 41 {key} {vi[key]:.3f} ± {vi[key + "_se"]:.3f} is {how} '
          f'the best standard loss ({EQUATION[best]}, {ref[key]:.3f} ± '
          f'{ref[key + "_se"]:.3f}).')


def beats_published(dataset: str, rows: dict) -> str:
  """One sentence: which losses beat the published ALI row on modes, HQ and KL."""
  if dataset not in PUBLISHED_ALI:
    return ''
  modes, hq, kl = PUBLISHED_ALI[dataset]
  winners = [loss for loss, row in rows.items()
             if row['modes'] > modes and row['hq'] > hq and row['reverse_kl'] < kl]
  if winners:
    few = sorted({rows[loss]['seeds'] for loss in winners
                  if rows[loss]['seeds'] < PROTOCOL_SEEDS_2D})
    caveat = ('' if not few else
              f' (over {" or ".join(map(str, few))} seed{"s" if few[-1] > 1 else ""}; '
              f'the 2D protocol, docs/protocols.md, reports {PROTOCOL_SEEDS_2D})')
    return (f'{dataset}: {", ".join(EQUATION[loss] for loss in winners)} beat the '
            'published ALI row '
            f'({modes} modes, {hq}% HQ, KL {kl}) on all three means{caveat}.')
  return (f'{dataset}: no loss beats the published ALI row ({modes} modes, '
          f'{hq}% HQ, KL {kl}) on all three means.')


def markdown(summary: dict, raw: dict) -> str:
  """The table of every row in ``summary``; the budget and command are this invocation's.

  ``raw`` holds this invocation's runs, ``{dataset: {loss: [run, ...]}}``; rows
  of ``summary`` outside it come from earlier tables of the same results file
  and are marked so, with their own seeds and length.
  """
  config = config_2d()
  budgets = []
  if any(_family(d) == '2d' for d in raw):
    budgets.append(f'{config.steps} stages (2D, batch {config.batch_size})')
  if 'mnist' in raw:
    budgets.append(f'{_STEPS_MNIST.value} stages (MNIST, batch 64)')
  settings = (f', learning rates decayed to 0 ({config.lr_decay})'
              if _differs('lr_decay') else '')
  if config.g_ema:
    settings += f', G scored as its moving average (decay {config.g_ema:g})'
  if _differs('ali_networks'):
    settings += f', 2D networks: {config.ali_networks}'
  settings += ''.join(f', {row.phrase.format(v=_text(value))}'
                      for row, value in _set_2d() if row.phrase)
  if config.ali_simultaneous:
    settings += ', 2D D and E/G updates simultaneous'
  command = (f'python -m benchmarks.ali_losses --datasets={",".join(raw)}'
             + ('' if list(_LOSSES.value) == list(ali_losses.GENERATOR_LOSSES)
                else f' --losses={",".join(_LOSSES.value)}')
             + _config_arguments()
             + ''.join(f' --{holder.name}={holder.value}'
                       for holder in (_STEPS_MNIST, _SEEDS, _FIRST_SEED)
                       if _changed(holder)))
  seeds = _seeds()
  which = ('' if not _FIRST_SEED.value else f' (seed {seeds[0]})' if len(seeds) == 1
           else f' (seeds {seeds[0]}–{seeds[-1]})')
  lines = [f'ALI E/G losses, {_SEEDS.value} seed(s) per cell{which}, mean ± standard '
           'error. '
           f'Budget: {", ".join(budgets)}{settings}. Measured by `{command}`.', '']
  for dataset, rows in summary.items():
    family = _family(dataset)
    keys = _score_keys(family)
    lines += [f'### {dataset}', '', '| loss | ' + ' | '.join(keys) + ' |',
              '|---' * (len(keys) + 1) + '|']
    earlier = [loss for loss in rows if loss not in raw.get(dataset, {})]
    for loss, row in rows.items():
      # One seed has no standard error: print the value alone.
      cells = [f'{row[k]:.2f}' + (f' ± {row[k + "_se"]:.2f}' if row['seeds'] > 1
                                  else '') for k in keys]
      label = EQUATION[loss] + (' *' if loss in earlier else '')
      lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    if dataset in PUBLISHED_ALI:
      modes, hq, kl = PUBLISHED_ALI[dataset]
      lines.append(f'| published ALI (PacGAN Table 1) | {modes} | {hq} | {kl} |'
                   + ' — |' * (len(keys) - 3))
    lines += ['', *filter(None, [verdict(dataset, rows),
                                 beats_published(dataset, rows),
                                 _from_records(dataset, raw.get(dataset, {})),
                                 _from_earlier_tables(dataset, rows, earlier)]), '']
  return '\n'.join(lines)


def _config_arguments() -> str:
  """``--config=...`` and its ``--config.FIELD=...`` as this invocation gave them."""
  holder = flags.FLAGS['config']
  path = config_flags.get_config_filename(holder)
  if os.path.dirname(os.path.abspath(path)) == configs.DIR:
    path = f'configs/{os.path.basename(path)}'
  given = ('' if path == 'configs/ali_ring8.py' else f' --config={path}')
  overrides = config_flags.get_override_values(holder)
  return given + ''.join(f' --config.{k}={_text(v)}' for k, v in overrides.items())


def _from_earlier_tables(dataset: str, rows: dict, earlier: list[str]) -> str:
  """One sentence on the rows (marked *) that an earlier table of this file wrote."""
  if not earlier:
    return ''
  told = [f'{EQUATION[loss]}, {rows[loss]["seeds"]} seed'
          f'{"s" if rows[loss]["seeds"] > 1 else ""} of {rows[loss]["steps"]} stages'
          for loss in earlier]
  return (f'{dataset}: * from an earlier table with these settings '
          f'(`{_results_name()}.json`): {"; ".join(told)}.')


def _from_records(dataset: str, runs: dict) -> str:
  """One sentence naming the runs taken from the record rather than their directories."""
  taken = []
  for loss, loss_runs in runs.items():
    seeds = [str(r['seed']) for r in loss_runs if r.get('recorded')]
    if seeds:
      taken.append(f'{EQUATION[loss]} seed{"s" if len(seeds) > 1 else ""} '
                   f'{", ".join(seeds)}')
  if not taken:
    return ''
  return (f'{dataset}: {"; ".join(taken)} from the per-run record of an earlier '
          f'invocation (`{_results_name()}.json`); their run directories were absent.')


# Per-invocation entries of results files written before each summary row
# carried its own seeds and length; rows without them take these.
_LEGACY_KEYS = ('seeds', 'steps_2d', 'steps_mnist')


def _migrate_legacy(data: dict) -> None:
  """Moves a legacy file's top-level seeds and lengths into its summary rows."""
  legacy = {key: data.pop(key) for key in _LEGACY_KEYS if key in data}
  for dataset, rows in data.get('summary', {}).items():
    steps = legacy.get('steps_mnist' if _family(dataset) == 'mnist' else 'steps_2d')
    for row in rows.values():
      row.setdefault('seeds', legacy.get('seeds'))
      row.setdefault('steps', steps)


def write_table(results: dict, raw: dict) -> str:
  """Merges this invocation's rows and runs into the results JSON; writes the table.

  Under the record's lock: the rows of ``results`` replace those of the same
  dataset and loss in the JSON's ``summary``, every other row stays, and the
  runs of ``raw`` go into the per-run record as :func:`record_run` puts them.
  The markdown (returned, and written beside the JSON) shows every row.
  """
  with _record() as data:
    _migrate_legacy(data)
    data.update({'config_2d': dataclasses.asdict(config_2d()),
                 'first_seed': _FIRST_SEED.value})
    summary = data.setdefault('summary', {})
    for dataset, rows in results.items():
      merged = {**summary.get(dataset, {}), **rows}
      summary[dataset] = {loss: merged[loss] for loss in ali_losses.GENERATOR_LOSSES
                          if loss in merged}
      for loss, runs in raw[dataset].items():
        for run in runs:
          _add_run(data, dataset, loss, run)
    text = markdown(summary, raw)
    stats.write_markdown(_OUT_DIR.value, _results_name(), text)
  return text


def main(argv):
  del argv
  try:
    check_config_2d()
  except config_lib.ConfigError as e:
    print(f'benchmarks.ali_losses: error: {e}', file=sys.stderr)
    sys.exit(2)
  results, raw = {}, {}
  records = recorded_runs()
  for dataset in _DATASETS.value:
    results[dataset], raw[dataset] = {}, {}
    for loss in _LOSSES.value:
      runs = []
      for seed in _seeds():
        if _ONLY_SEEDS.value and seed not in _ONLY_SEEDS.value:
          continue
        runs.append(run_one(dataset, loss, seed, records))
        if not runs[-1].get('recorded'):
          record_run(dataset, loss, runs[-1])
        print(f'{dataset} {loss} seed {seed}'
              + (' (from the record)' if runs[-1].get('recorded') else '') + ': '
              + json.dumps({k: round(v, 4) if isinstance(v, float) else v
                            for k, v in runs[-1].items()
                            if k not in ('seed', 'steps', 'recorded', 'history')}),
              flush=True)
      raw[dataset][loss] = runs
      results[dataset][loss] = summarise(runs, _family(dataset))
  if _ONLY_SEEDS.value:
    print(f'--only_seeds: seeds {sorted(set(_ONLY_SEEDS.value))} are in the record '
          f'({_record_path()}); no table written.')
    return
  print(write_table(results, raw))


if __name__ == '__main__':
  app.run(main)
