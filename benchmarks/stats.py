"""Summary statistics and result files shared by the benchmark scripts."""

import dataclasses
import json
import os
from typing import Any, Optional, Sequence

from absl import flags

from vi_gen.training import config as config_lib
from vi_gen.training import seeds

# The one mean ± standard error, also what many-seed runs record.
mean_se = seeds.mean_se


def write_markdown(out_dir: str, name: str, table: str) -> None:
  """Writes ``out_dir/name.md``, the markdown table."""
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, f'{name}.md'), 'w') as f:
    f.write(table if table.endswith('\n') else table + '\n')


def write_results(out_dir: str, name: str, table: str, data: Any) -> None:
  """Writes ``out_dir/name.md`` (the markdown table) and ``out_dir/name.json``."""
  write_markdown(out_dir, name, table)
  with open(os.path.join(out_dir, f'{name}.json'), 'w') as f:
    json.dump(data, f, indent=2)


# A benchmark's run record: one JSON line per finished run, its configuration
# and scores, appended as each run ends and read back on re-run so that only
# the runs not yet recorded are trained.


def run_key(config: config_lib.GANConfig) -> str:
  """The record's key of a run: its whole configuration."""
  return json.dumps(dataclasses.asdict(config), sort_keys=True)


def recorded_runs(path: str) -> dict:
  """The runs of ``path`` (one JSON object per line), by configuration."""
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return {run_key(config_lib.GANConfig(**r['config'])): r['scores']
            for r in map(json.loads, filter(str.strip, f))}


def record_run(path: str, config: config_lib.GANConfig, scores: dict) -> None:
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  with open(path, 'a') as f:
    f.write(json.dumps({'config': dataclasses.asdict(config), 'scores': scores})
            + '\n')


def paired(runs: Sequence[dict], control: Sequence[dict],
           keys: Sequence[str]) -> dict:
  """Mean ± standard error over the seeds both have of (arm − control), per
  score of ``keys`` (``key`` and ``key_se``); ``seeds`` is how many that is."""
  by_seed = {c['seed']: c for c in control}
  pairs = [(r, by_seed[r['seed']]) for r in runs if r['seed'] in by_seed]
  out = {'seeds': len(pairs)}
  for key in keys:
    out[key], out[key + '_se'] = mean_se([r[key] - c[key] for r, c in pairs])
  return out


def signed_pm(scores: dict, key: str, digits: int) -> str:
  """``scores[key]`` with its sign ± ``scores[key + '_se']``, as
  :func:`paired` gives them: ``'+0.12 ± 0.05'``."""
  return f'{scores[key]:+.{digits}f} ± {scores[key + "_se"]:.{digits}f}'


def parse_shard(text: str) -> Optional[tuple[int, int]]:
  """``'k/n'`` as (k, n), or None unless 0 <= k < n."""
  try:
    k, n = map(int, text.split('/'))
  except ValueError:
    return None
  return (k, n) if 0 <= k < n else None


def define_shard_flag(runs: str = 'runs') -> flags.FlagHolder:
  """``--shard=k/n``: train only ``runs`` k, k+n, k+2n, … and write no table."""
  holder = flags.DEFINE_string(
      'shard', None, f'k/n: train only {runs} k, k+n, k+2n, … and write no table.')
  flags.register_validator(
      'shard', lambda s: s is None or parse_shard(s) is not None,
      '--shard must be k/n with 0 <= k < n')
  return holder


def plot_arms_and_control(ax, arms: Sequence[dict], control: Sequence[dict],
                          key: str, colour: str, arm_label: str,
                          control_label: str) -> None:
  """On ``ax``: the arms' ``key`` against λ with standard errors, and the
  control (λ = 0, which a log λ axis cannot show) as a line and band; either
  may be empty."""
  if arms:
    ax.errorbar([r['reg_lambda'] for r in arms], [r[key] for r in arms],
                yerr=[r[key + '_se'] for r in arms], marker='o', capsize=3,
                color=colour, label=arm_label)
  if control:
    c = control[0]
    ax.axhline(c[key], color=colour, ls=':', label=control_label)
    ax.axhspan(c[key] - c[key + '_se'], c[key] + c[key + '_se'],
               color=colour, alpha=0.15)
