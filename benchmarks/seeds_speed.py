r"""Many seeds in one program against one after another: 2D GAN throughput.

    python -m benchmarks.seeds_speed                       # N ∈ {1, 2, 5, 10}, ~5 min
    python -m benchmarks.seeds_speed --stages=50 --num_seeds=1,2   # a quick look

For the 2D GAN networks of ``benchmarks.speed`` (the default ones of
``configs/gan_ring8.py``, and small ones), measures seed·stages per second of
N seeds trained as one vmapped program
(:func:`vi_gen.training.seeds.train_stages_many`) against the same N seeds
trained one after another, each in its own fused loop
(:func:`vi_gen.training.stage.train_stages`). Both are compiled and warmed up
before timing; each time is the median of ``--repeats`` runs of ``--stages``
stages per seed. Writes ``--out_dir/seeds_speed.{md,json}``.

This covers the 2D rows of the "many seeds, one program" issue's benchmark;
the DCGAN stage, XLA's GFLOP/s against the matmul rate and peak memory are
not measured here yet.
"""

import dataclasses
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import stats
from benchmarks.cases import TOY2D_CASES
import configs
from vi_gen.data import toy2d
from vi_gen.training import build
from vi_gen.training import seeds
from vi_gen.training import stage as stage_lib

_NUM_SEEDS = flags.DEFINE_list('num_seeds', ['1', '2', '5', '10'], 'Values of N.')
_STAGES = flags.DEFINE_integer('stages', 200, 'Stages per seed in each timing.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timings per case; the median is kept.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results', 'Output directory.')


def _median_seconds(run, repeats: int) -> float:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(run())
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def measure(overrides: dict, num_seeds: int, stages: int, repeats: int) -> dict:
  """Seed·stages/s of ``num_seeds`` seeds as one program and one by one."""
  config = configs.load('gan_ring8', **overrides)
  kwargs = dict(schedule=build.schedule(config),
                sample_real=toy2d.real_sampler(config.dataset),
                batch_size=config.batch_size, stage_fn=build.stage_fn(config))
  states = [build.create_state(dataclasses.replace(config, seed=s))
            for s in range(num_seeds)]
  bundle = seeds.stack(states)
  num = jnp.int32(stages)
  # No donation in the bundled call, so the same bundle is timed each repeat.
  jax.block_until_ready(seeds.train_stages_many(bundle, jnp.int32(1), **kwargs))
  bundled = _median_seconds(
      lambda: seeds.train_stages_many(bundle, num, **kwargs)[1], repeats)

  def one_by_one():
    out = None
    for state in states:
      # train_stages donates its state: give it a copy.
      out = stage_lib.train_stages(jax.tree.map(jnp.copy, state), num, **kwargs)[1]
      jax.block_until_ready(out)
    return out

  jax.block_until_ready(stage_lib.train_stages(
      jax.tree.map(jnp.copy, states[0]), jnp.int32(1), **kwargs)[1])
  serial = _median_seconds(one_by_one, repeats)
  work = num_seeds * stages
  return {'num_seeds': num_seeds, 'stages': stages,
          'bundled_seed_stages_per_s': work / bundled,
          'serial_seed_stages_per_s': work / serial,
          'speedup': serial / bundled}


def main(argv):
  del argv
  rows = []
  for name, overrides in TOY2D_CASES:
    for n in map(int, _NUM_SEEDS.value):
      row = {'networks': name, **measure(overrides, n, _STAGES.value,
                                         _REPEATS.value)}
      rows.append(row)
      print(f'{name}, N = {n}: {row["bundled_seed_stages_per_s"]:.1f} seed·stages/s '
            f'in one program, {row["serial_seed_stages_per_s"]:.1f} one by one '
            f'({row["speedup"]:.2f}×)', flush=True)
  lines = [f'Measured by `python -m benchmarks.seeds_speed` on '
           f'{jax.default_backend()} ({jax.devices()[0].device_kind}), JAX '
           f'{jax.__version__}: {_STAGES.value} stages per seed, median of '
           f'{_REPEATS.value}; ring8 recipe `gan_ring8` (λ = 100).', '',
           '| networks | N | one program (seed·stages/s) | one by one | speed-up |',
           '|---|---|---|---|---|']
  lines += [f'| {r["networks"]} | {r["num_seeds"]} | '
            f'{r["bundled_seed_stages_per_s"]:.1f} | '
            f'{r["serial_seed_stages_per_s"]:.1f} | {r["speedup"]:.2f}× |'
            for r in rows]
  table = '\n'.join(lines) + '\n'
  print('\n' + table)
  stats.write_results(_OUT_DIR.value, 'seeds_speed', table, {'rows': rows})


if __name__ == '__main__':
  app.run(main)
