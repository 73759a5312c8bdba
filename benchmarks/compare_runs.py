r"""Two sets of finished runs, seed by seed: do their final scores differ?

    python -m benchmarks.compare_runs --a=/tmp/seeds/old --b=/tmp/seeds/new

Each of ``--a`` and ``--b`` holds one run directory per seed, named
``seed<N>`` (``experiments.* --workdir=ROOT/seed<N>``), each with the
``metrics.jsonl`` the experiments write. Only seeds finished in both sets (the
same last stage) are compared. For every score in ``--scores`` it prints the
per-seed table, each set's mean ± standard error, the difference of the means
and that difference in standard errors of the difference (unpaired: the two
sets' runs share seeds, but a GAN's trajectory diverges from float-level
differences, so runs of one seed are not paired in any useful sense).
``--late_from=S`` adds ``<score>_late``: the mean of a score over a run's
evaluations from stage S on, less noisy than one evaluation.

Used to check that a change meant to move only float rounding (the CPU compile
options of ``vi_gen.xla``) leaves the default ring8 GAN's quality alone:
``benchmarks/results/xla_options_seeds.md``.
"""

import math
import os
import re

from absl import app
from absl import flags

from benchmarks import stats
from vi_gen import records

_A = flags.DEFINE_string('a', None, 'Root of the first set of runs.', required=True)
_B = flags.DEFINE_string('b', None, 'Root of the second set of runs.', required=True)
_SCORES = flags.DEFINE_list('scores', ['modes', 'hq', 'reverse_kl'],
                            'Scores of the last evaluation to compare.')
_LATE_FROM = flags.DEFINE_integer('late_from', None,
                                  'Also compare each score averaged over the '
                                  'evaluations from this stage on.')


def load(root: str, scores, late_from=None) -> dict[int, dict]:
  """``{seed: {score: value}}`` of the runs under ``root`` (their last evaluation)."""
  runs = {}
  for name in os.listdir(root):
    match = re.fullmatch(r'seed(\d+)', name)
    path = os.path.join(root, name, 'metrics.jsonl')
    if not match or not os.path.exists(path):
      continue
    rows = records.read_metrics(path)
    evaluations = [r for r in rows if all(k in r for k in scores)]
    if not evaluations:
      continue
    last = evaluations[-1]
    run = {'step': last['step'], **{k: last[k] for k in scores}}
    if late_from is not None:
      for k in scores:
        late = [r[k] for r in evaluations if r['step'] >= late_from]
        run[f'{k}_late'] = sum(late) / len(late) if late else math.nan
    runs[int(match.group(1))] = run
  return runs


def compare(a: dict, b: dict, keys) -> tuple[list[int], dict]:
  """The seeds both sets finished, and per key the two means, SEs and the gap."""
  seeds = sorted(s for s in set(a) & set(b) if a[s]['step'] == b[s]['step'])
  rows = {}
  for k in keys:
    mean_a, se_a = stats.mean_se([a[s][k] for s in seeds])
    mean_b, se_b = stats.mean_se([b[s][k] for s in seeds])
    noise = math.hypot(se_a, se_b)
    rows[k] = dict(a=mean_a, a_se=se_a, b=mean_b, b_se=se_b, diff=mean_b - mean_a,
                   gap_se=(mean_b - mean_a) / noise if noise else math.nan)
  return seeds, rows


def main(argv):
  del argv
  scores = list(_SCORES.value)
  keys = scores + ([f'{k}_late' for k in scores] if _LATE_FROM.value is not None
                   else [])
  a = load(_A.value, scores, _LATE_FROM.value)
  b = load(_B.value, scores, _LATE_FROM.value)
  seeds, rows = compare(a, b, keys)
  if len(seeds) < 2:
    raise app.UsageError(f'{len(seeds)} seed(s) finished in both sets; need 2')
  print('| seed | ' + ' | '.join(f'a {k}' for k in scores) + ' | '
        + ' | '.join(f'b {k}' for k in scores) + ' |')
  print('|---' * (2 * len(scores) + 1) + '|')
  for s in seeds:
    print(f'| {s} | ' + ' | '.join(f'{a[s][k]:.4g}' for k in scores) + ' | '
          + ' | '.join(f'{b[s][k]:.4g}' for k in scores) + ' |')
  print(f'\n{len(seeds)} seeds finished in both (a = {_A.value}, b = {_B.value}), '
        f'stage {a[seeds[0]]["step"]}:')
  for k, r in rows.items():
    print(f'{k}: a {r["a"]:.3f} ± {r["a_se"]:.3f}, b {r["b"]:.3f} ± {r["b_se"]:.3f}, '
          f'b − a {r["diff"]:+.3f} ({r["gap_se"]:+.2f} SE)')


if __name__ == '__main__':
  app.run(main)
