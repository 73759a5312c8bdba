r"""Many seeds in one program against one after another: throughput, FLOP/s, memory.

    python -m benchmarks.seeds_speed                       # N ∈ {1, 2, 5, 10}, ~10 min
    python -m benchmarks.seeds_speed --stages=50 --num_seeds=1,2 --notorch   # a quick look

In one run, for three stages: the 2D GAN of ``configs/gan_ring8.py`` with its
default (PacGAN's) networks and with small ones (``benchmarks.cases``), and the
paper's exp1 DCGAN stage on 28×28 images (``configs/gan_mnist_exp1.py``, λ = 5):

* seed·stages per second of N seeds trained as one vmapped program
  (:mod:`vi_gen.training.seeds`: the 2D fused loop ``train_stages_many``, the
  image stage ``train_stage_on_batch_many``) against the same N seeds one after
  another (``train_stages``, ``train_stage_on_batch``). The 2D rows time
  ``--stages`` stages per seed in one call; the image rows ``--steps`` stages,
  one call each, on random batches already on the device (the input pipeline
  is the same either way and is left out). Everything is compiled and warmed up
  first; each figure is the median of ``--repeats`` timings;
* the bundle's GFLOP/s: XLA's cost analysis of one bundled stage, times the
  stages per second, and its share of the float32 matmul rate measured in the
  same run (``benchmarks.speed.matmul_rates``, vi_gen's compilation);
* memory: XLA's memory analysis of the bundled training call (arguments,
  outputs and temporaries, less the donated buffers its outputs reuse), the
  figure the many-seed runs check against free memory; and the process's peak
  resident memory at the end;
* the DCGAN step (one D and one G update, batch 64, 28×28, λ = 0 and 5)
  against the PyTorch reference (``benchmarks/torch_dcgan.py``) when ``torch``
  is installed and ``--torch``: ``benchmarks.speed``'s timing, median of
  ``--repeats``.

Writes ``--out_dir/seeds_speed.{md,json}``. The flags ``--steps``,
``--repeats`` and ``--out_dir`` are ``benchmarks.speed``'s.
"""

import dataclasses
import resource

from absl import app
from absl import flags
import jax
import jax.numpy as jnp

from benchmarks import speed
from benchmarks import stats
from benchmarks.cases import TOY2D_CASES
from experiments import quiet_logs
import configs
from vi_gen.data import images
from vi_gen.data import toy2d
from vi_gen.training import build
from vi_gen.training import seeds
from vi_gen.training import stage as stage_lib

_NUM_SEEDS = flags.DEFINE_list('num_seeds', ['1', '2', '5', '10'], 'Values of N.')
_STAGES = flags.DEFINE_integer('stages', 200, '2D stages per seed in each timing.')
_TORCH = flags.DEFINE_boolean('torch', True, 'Time the PyTorch DCGAN reference.')
FLAGS = flags.FLAGS

MiB = 2**20
DCGAN_CASE = 'DCGAN 28×28 (exp1 stage, λ = 5)'


def _median(run, repeats: int) -> float:
  """Median seconds of one call of ``run`` over ``repeats``."""
  return speed.median_time(run, 1, repeats)


def _memory_bytes(compiled) -> int:
  m = compiled.memory_analysis()
  return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
          - m.alias_size_in_bytes)


def _stage_cost(config, states, real_shape) -> float:
  """FLOPs of one bundled stage (XLA's cost analysis), for N = len(states)."""
  schedule, stage_fn = build.schedule(config), build.stage_fn(config)
  n = jax.tree.leaves(states)[0].shape[0]
  real = jnp.zeros((n, *real_shape))
  totals = seeds.zero_totals_many(states, real_shape, schedule, stage_fn)
  compiled = seeds.train_stage_on_batch_many.lower(
      states, real, totals, jnp.ones(n, bool), schedule=schedule,
      stage_fn=stage_fn).compile()
  return speed._flops(compiled)  # pylint: disable=protected-access


def measure_2d(overrides: dict, num_seeds: int, stages: int, repeats: int) -> dict:
  """Seed·stages/s of ``num_seeds`` 2D seeds as one program and one by one."""
  config = configs.load('gan_ring8', **overrides)
  kwargs = dict(schedule=build.schedule(config),
                sample_real=toy2d.real_sampler(config.dataset),
                batch_size=config.batch_size, stage_fn=build.stage_fn(config))
  states = [build.create_state(dataclasses.replace(config, seed=s))
            for s in range(num_seeds)]
  bundle = seeds.stack(states)
  num = jnp.int32(stages)
  # Each call gets a copy: the programs donate their states.
  compiled = seeds.train_stages_many.lower(bundle, num, **kwargs).compile()
  jax.block_until_ready(compiled(jax.tree.map(jnp.copy, bundle), jnp.int32(1)))
  bundled = _median(
      lambda: compiled(jax.tree.map(jnp.copy, bundle), num)[1], repeats)

  def one_by_one():
    out = None
    for state in states:
      out = stage_lib.train_stages(jax.tree.map(jnp.copy, state), num, **kwargs)[1]
      jax.block_until_ready(out)
    return out

  jax.block_until_ready(stage_lib.train_stages(
      jax.tree.map(jnp.copy, states[0]), jnp.int32(1), **kwargs)[1])
  serial = _median(one_by_one, repeats)
  flops = _stage_cost(config, bundle,
                      (config.d_steps, config.batch_size, 2)) * stages
  return _row(num_seeds, stages, bundled, serial, flops, _memory_bytes(compiled))


def measure_dcgan(num_seeds: int, stages: int, repeats: int) -> dict:
  """The same for the paper's exp1 stage on 28×28 batches, one call per stage."""
  config = configs.load('gan_mnist_exp1')
  schedule, stage_fn = build.schedule(config), build.stage_fn(config)
  shape = (config.d_steps, config.batch_size, *images.get_dataset('mnist').shape)
  real = jax.random.uniform(jax.random.PRNGKey(1), (num_seeds, *shape), minval=-1)
  states = [build.create_state(dataclasses.replace(config, seed=s))
            for s in range(num_seeds)]
  bundle = seeds.stack(states)
  active = jnp.ones(num_seeds, bool)
  totals = seeds.zero_totals_many(bundle, shape, schedule, stage_fn)
  compiled = seeds.train_stage_on_batch_many.lower(
      bundle, real, totals, active, schedule=schedule, stage_fn=stage_fn,
      batching=seeds.image_batching()).compile()
  carry = [jax.tree.map(jnp.copy, bundle), totals]

  def bundled_run():
    for _ in range(stages):
      carry[0], carry[1] = compiled(carry[0], real, carry[1], active)
    return carry[1]

  singles = [[s, stage_lib.zero_totals(s, shape, schedule, stage_fn)] for s in states]

  def one_by_one():
    out = None
    for k, pair in enumerate(singles):
      for _ in range(stages):
        pair[0], pair[1] = stage_lib.train_stage_on_batch(
            pair[0], real[k], pair[1], schedule=schedule, stage_fn=stage_fn)
      out = jax.block_until_ready(pair[1])
    return out

  jax.block_until_ready(bundled_run())
  jax.block_until_ready(one_by_one())
  bundled = _median(bundled_run, repeats)
  serial = _median(one_by_one, repeats)
  return _row(num_seeds, stages, bundled, serial, speed._flops(compiled) * stages,  # pylint: disable=protected-access
              _memory_bytes(compiled))


def _row(num_seeds, stages, bundled, serial, flops, memory) -> dict:
  work = num_seeds * stages
  return {'num_seeds': num_seeds, 'stages': stages,
          'bundled_seed_stages_per_s': work / bundled,
          'serial_seed_stages_per_s': work / serial, 'speedup': serial / bundled,
          'bundled_gflops': flops / bundled / 1e9,
          'xla_memory_mib': memory / MiB}


def _print(name, row):
  print(f'{name}, N = {row["num_seeds"]}: {row["bundled_seed_stages_per_s"]:.1f} '
        f'seed·stages/s in one program, {row["serial_seed_stages_per_s"]:.1f} one '
        f'by one ({row["speedup"]:.2f}×); {row["bundled_gflops"]:.1f} GFLOP/s, '
        f'{row["xla_memory_mib"]:.1f} MiB', flush=True)


def torch_rows(steps: int, repeats: int) -> list[dict]:
  """vi_gen's DCGAN step against PyTorch's, as ``benchmarks.speed`` times them."""
  rows = []
  for reg_lambda in (0.0, 5.0):
    ours = speed.time_dcgan_step('mnist', reg_lambda, True, steps, repeats)
    theirs = speed.time_torch_step((28, 28, 1), reg_lambda, steps, repeats)
    row = {'reg_lambda': reg_lambda, 'seconds': ours['seconds']}
    if theirs is not None:
      row.update(torch_seconds=theirs['seconds'], torch_threads=theirs['threads'],
                 torch_version=theirs['version'],
                 vs_torch=theirs['seconds'] / ours['seconds'])
    rows.append(row)
    print('DCGAN step vs PyTorch: ' + ', '.join(
        f'{k} {v:.4g}' if isinstance(v, float) else f'{k} {v}'
        for k, v in row.items()), flush=True)
  return rows


def markdown(report: dict) -> str:
  rate = report['matmul_gflops']['vi_gen']
  lines = [f'Measured by `python -m benchmarks.seeds_speed` on '
           f'{report["device"]}, JAX {jax.__version__}, in one run: 2D '
           f'{report["stages"]} stages per seed per timing (one fused call), '
           f'DCGAN {report["steps"]} stages (one call each); median of '
           f'{report["repeats"]}. Float32 matmul rate measured in the same run: '
           f'{rate:.1f} GFLOP/s (vi_gen\'s compilation).', '',
           '| stage | N | one program (seed·stages/s) | one by one | speed-up | '
           'GFLOP/s (% of matmul) | XLA memory of the call (MiB) |',
           '|---|---|---|---|---|---|---|']
  lines += [f'| {r["networks"]} | {r["num_seeds"]} | '
            f'{r["bundled_seed_stages_per_s"]:.1f} | '
            f'{r["serial_seed_stages_per_s"]:.1f} | {r["speedup"]:.2f}× | '
            f'{r["bundled_gflops"]:.1f} ({100 * r["bundled_gflops"] / rate:.0f}%) | '
            f'{r["xla_memory_mib"]:.1f} |' for r in report['rows']]
  lines += ['', f'Peak resident memory of the benchmark process: '
            f'{report["peak_rss_mib"]:.0f} MiB.']
  if report['torch']:
    lines += ['', 'The DCGAN step (one D and one G update, batch 64, 28×28) '
              'against the PyTorch reference, median of '
              f'{report["repeats"]} timings of {report["steps"]} steps:', '',
              '| λ | vi_gen (ms) | PyTorch (ms) | vi_gen speed / PyTorch |',
              '|---|---|---|---|']
    lines += [f'| {r["reg_lambda"]:g} | {1e3 * r["seconds"]:.1f} | '
              + (f'{1e3 * r["torch_seconds"]:.1f} | {r["vs_torch"]:.2f}× |'
                 if 'torch_seconds' in r else 'not installed | |')
              for r in report['torch']]
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  quiet_logs.install()
  repeats, steps = FLAGS.repeats, FLAGS.steps
  report = {'device': f'{jax.default_backend()} ({jax.devices()[0].device_kind}, '
                      f'{jax.device_count()} device(s))',
            'stages': _STAGES.value, 'steps': steps, 'repeats': repeats,
            'matmul_gflops': speed.matmul_rates()}
  print(f'matmul GFLOP/s: {report["matmul_gflops"]}', flush=True)
  rows = []
  for name, overrides in TOY2D_CASES:
    for n in map(int, _NUM_SEEDS.value):
      rows.append({'networks': name,
                   **measure_2d(overrides, n, _STAGES.value, repeats)})
      _print(name, rows[-1])
  for n in map(int, _NUM_SEEDS.value):
    rows.append({'networks': DCGAN_CASE, **measure_dcgan(n, steps, repeats)})
    _print(DCGAN_CASE, rows[-1])
  report['rows'] = rows
  report['torch'] = torch_rows(steps, repeats) if _TORCH.value else []
  report['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  table = markdown(report)
  print('\n' + table)
  stats.write_results(FLAGS.out_dir, 'seeds_speed', table, report)


if __name__ == '__main__':
  app.run(main)
