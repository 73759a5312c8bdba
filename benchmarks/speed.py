r"""How fast does vi_gen train, against the hardware and against PyTorch?

    TFDS_MANUAL_DIR=/path/to/mnist python -m benchmarks.speed

One run measures, on the default JAX device, and prints and writes
``--out_dir/speed.{md,json}`` (``speed_<platform>.*`` off the CPU):

1. **Matmul rate**: a 2048² float32 matrix product in JAX (and in PyTorch when it
   is installed); the machine's rate is the faster of the two.
2. **DCGAN step** at batch 64, 28×28×1 (MNIST) and 64×64×3 (CelebA): one D update
   and one G update (eq. 26, ``previous`` anchor), λ = 0 and λ = 5. Per step:
   seconds (median of ``--repeats`` timings of ``--steps`` steps after warm-up),
   GFLOP from XLA's cost analysis of the compiled step, achieved GFLOP/s and its
   ratio to the matmul rate. "Model GFLOP" is the cost analysis of the same step
   built from Flax's ``nn.Conv``/``nn.ConvTranspose`` (no zero taps), the fair
   numerator; that reference step is also timed, to show what the fast layers buy.
3. **PyTorch** (``benchmarks/torch_dcgan.py``, same networks, initialisation,
   optimiser and step) when ``torch`` is installed: its step time, and vi_gen's
   speed relative to it (PyTorch seconds ÷ vi_gen seconds; > 1 means vi_gen is
   faster).
4. **Regulariser overhead**: step time at λ = 5 ÷ at λ = 0; and (section
   ``exp1``) the same for the paper's exp1 stage, the image runs' default: one D
   update, then two G updates on one z against G° = G at the stage's start.
5. **2D** (ring8): stages/s with ``--fused_stages`` stages per jitted call against
   one stage per call, for the default networks and for small ones; each stage's
   XLA FLOPs, and the stages/s a fused loop would reach if it ran them at the
   matmul rate and paid nothing else (the ceiling of what fusing can gain).
6. **VAE step** (the anchor MLP and the conv VAE, batch 100): train steps/s.
   **EM iteration** (K = 10, full covariances): iterations/s inside one jitted fit.
7. **Input pipeline**: MNIST stage batches/s from the TFDS pipeline alone, next
   to the 28×28 training rate (needs MNIST; skipped with the reason otherwise).
8. **Peak memory** (maximum resident set size) of each experiment's default
   configuration, run in a subprocess to its first evaluation and checkpoint.

``--sections`` picks a subset, e.g. ``--sections=dcgan,torch``; a subset is
only printed unless ``--out_dir`` is given.
"""

import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import pipeline
from benchmarks import stats
from benchmarks.cases import TOY2D_CASES
from experiments import quiet_logs
from vi_gen import em
from vi_gen import xla
from vi_gen.data import images
from vi_gen.models import vae as vae_models
from vi_gen.data import toy2d
from vi_gen.training import build
from vi_gen.training import config as config_lib
import configs
from vi_gen.training import stage as stage_lib
from vi_gen.training import vae_step

SECTIONS = ('matmul', 'dcgan', 'torch', 'exp1', 'toy2d', 'vae_em', 'pipeline',
            'memory')

_SECTIONS = flags.DEFINE_list('sections', list(SECTIONS),
                              f'Which measurements: {", ".join(SECTIONS)}.')
_STEPS = flags.DEFINE_integer('steps', 5, 'Steps per timing (28×28; 64×64 uses '
                              'max(2, steps // 5)).')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timings per figure (the median is kept).')
_REG_LAMBDA = flags.DEFINE_float('reg_lambda', 5.0, 'λ of the regularised steps.')
_FUSED_STAGES = flags.DEFINE_integer('fused_stages', 2000,
                                     '2D stages per jitted call (fused).')
_REFERENCE = flags.DEFINE_boolean(
    'reference', True, 'Also time the step built from Flax\'s conv layers.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results', 'Output directory.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data_dir.')
_MANUAL_DIR = flags.DEFINE_string('manual_dir', None,
                                  'TFDS manual_dir (default: $TFDS_MANUAL_DIR).')

# (name, dataset): the paper's two image sizes, at their datasets' shapes.
DCGAN_CASES = (('28×28×1', 'mnist'), ('64×64×3', 'celeb_a'))


def median_time(run: Callable[[], object], steps: int, repeats: int) -> float:
  """Median over ``repeats`` of the seconds per call of ``run`` (``steps`` calls).

  Waits for the last call's JAX outputs; a non-JAX ``run`` (PyTorch) may return
  anything, e.g. ``None``.
  """
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      out = run()
    jax.block_until_ready(out)
    times.append((time.perf_counter() - start) / steps)
  return float(np.median(times))


def matmul_rates(size: int = 2048) -> dict:
  """GFLOP/s of a float32 ``size``² matmul: JAX's default compilation, vi_gen's
  (``vi_gen.xla.jit``; on CPU XLA's own dot, not YNNPACK's) and PyTorch's."""
  a = jax.random.normal(jax.random.PRNGKey(0), (size, size))
  flops = 2 * size ** 3
  rates = {}
  for name, jit in (('jax', jax.jit), ('vi_gen', xla.jit)):
    product = jit(lambda a: a @ a)
    product(a).block_until_ready()
    rates[name] = flops / median_time(lambda: product(a), 10, 5) / 1e9
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return rates
  x = torch.randn(size, size)
  x @ x
  rates['torch'] = flops / median_time(lambda: x @ x, 10, 5) / 1e9
  return rates


def _flops(compiled) -> float:
  """FLOPs of a compiled computation from XLA's cost analysis (a loop's body once)."""
  cost = compiled.cost_analysis()
  return (cost[0] if isinstance(cost, (list, tuple)) else cost)['flops']


def step_config(dataset: str, reg_lambda: float,
                exp1: bool = False) -> config_lib.GANConfig:
  """The paper's image defaults, as one D and one G update per stage (``previous``
  anchor), or with ``exp1`` as the paper's exp1 stage (their default schedule)."""
  config = dataclasses.replace(configs.recipe(dataset, 'exp1'),
                               reg_lambda=reg_lambda)
  if exp1:
    return config
  return dataclasses.replace(config, anchor='previous', d_steps=1, g_steps=1,
                             g_repeats=1)


def time_dcgan_step(dataset: str, reg_lambda: float, fast_layers: bool,
                    steps: int, repeats: int, exp1: bool = False) -> dict:
  config = step_config(dataset, reg_lambda, exp1)
  state = build.create_state(config, fast_layers=fast_layers)
  shape = (1, config.batch_size, *images.get_dataset(dataset).shape)
  real = jax.random.uniform(jax.random.PRNGKey(1), shape, minval=-1, maxval=1)
  totals = stage_lib.zero_totals(state, shape, build.schedule(config))
  start = time.perf_counter()
  compiled = stage_lib.train_stage_on_batch.lower(
      state, real, totals, schedule=build.schedule(config)).compile()
  compile_s = time.perf_counter() - start
  carry = [state, totals]

  def run():
    carry[0], carry[1] = compiled(carry[0], real, carry[1])
    return carry[1]

  result = {'gflop': _flops(compiled) / 1e9, 'compile_seconds': compile_s}
  if steps:
    for _ in range(2):
      jax.block_until_ready(run())
    result['seconds'] = median_time(run, steps, repeats)
  return result


def time_torch_step(image_shape: tuple, reg_lambda: float, steps: int,
                    repeats: int) -> Optional[dict]:
  try:
    import torch  # pylint: disable=g-import-not-at-top
    from benchmarks import torch_dcgan  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  size, _, channels = image_shape
  stage = torch_dcgan.Stage(size, channels, reg_lambda=reg_lambda)
  for _ in range(2):
    stage.step()
  return {'seconds': median_time(stage.step, steps, repeats),
          'threads': torch.get_num_threads(),
          'version': torch.__version__}


def _case_steps(shape: tuple, steps: int) -> int:
  """Steps per timing at an image shape: ``steps`` to 32×32, a fifth (≥ 2) above."""
  return steps if shape[0] <= 32 else max(2, steps // 5)


def dcgan_rows(sections, steps: int, repeats: int) -> list[dict]:
  rows = []
  for name, dataset in DCGAN_CASES:
    shape = images.get_dataset(dataset).shape
    case_steps = _case_steps(shape, steps)
    for reg_lambda in (0.0, _REG_LAMBDA.value):
      row = {'model': f'DCGAN {name}', 'dataset': dataset, 'reg_lambda': reg_lambda,
             'batch_size': 64}
      if 'dcgan' in sections:
        fast = time_dcgan_step(dataset, reg_lambda, True, case_steps, repeats)
        row.update(seconds=fast['seconds'], steps_per_s=1 / fast['seconds'],
                   gflop=fast['gflop'], gflops=fast['gflop'] / fast['seconds'],
                   compile_seconds=fast['compile_seconds'])
        reference = time_dcgan_step(
            dataset, reg_lambda, False,
            max(1, case_steps // 2) if _REFERENCE.value else 0, 1)
        row.update(model_gflop=reference['gflop'],
                   model_gflops=reference['gflop'] / fast['seconds'])
        if _REFERENCE.value:
          row['flax_layers_seconds'] = reference['seconds']
      if 'torch' in sections:
        torch_row = time_torch_step(shape, reg_lambda, case_steps, repeats)
        if torch_row is not None:
          row.update(torch_seconds=torch_row['seconds'],
                     torch_threads=torch_row['threads'],
                     torch_version=torch_row['version'])
          if 'seconds' in row:
            row['vs_torch'] = torch_row['seconds'] / row['seconds']
      rows.append(row)
      print('  ' + ', '.join(f'{k} {v:.4g}' if isinstance(v, float) else f'{k} {v}'
                             for k, v in row.items()), flush=True)
  return rows


def exp1_rows(steps: int, repeats: int) -> list[dict]:
  """The paper's exp1 stage at both image sizes, λ = 0 and λ > 0."""
  rows = []
  for name, dataset in DCGAN_CASES:
    shape = images.get_dataset(dataset).shape
    case_steps = _case_steps(shape, steps)
    for reg_lambda in (0.0, _REG_LAMBDA.value):
      timed = time_dcgan_step(dataset, reg_lambda, True, case_steps, repeats,
                              exp1=True)
      rows.append({'model': f'DCGAN {name}', 'reg_lambda': reg_lambda,
                   'seconds': timed['seconds'], 'gflop': timed['gflop']})
      print(f'  exp1 {rows[-1]}', flush=True)
  return rows


def reg_overhead(rows: list[dict]) -> dict:
  """Per model: step time at λ = ``--reg_lambda`` ÷ at λ = 0."""
  by_model = {}
  for r in rows:
    by_model.setdefault(r['model'], {})[r['reg_lambda']] = r['seconds']
  return {m: t[_REG_LAMBDA.value] / t[0.0] for m, t in by_model.items()}




def toy2d_rates(fused_stages: int, machine_gflops: Optional[float] = None,
                **overrides) -> dict:
  """ring8 stages/s: ``fused_stages`` per jitted call, and one per call.

  Also the stage's FLOPs from XLA's cost analysis (the loop body, counted once)
  and, given the machine's matmul rate, the most stages/s any fused loop could
  reach at that rate, and what that ceiling is as a multiple of the per-call rate:
  fusing can only remove what a call costs beyond its stage's arithmetic.
  """
  config = dataclasses.replace(configs.recipe('ring8'), **overrides)
  sampler = toy2d.real_sampler(config.dataset)
  state = build.create_state(config)
  # num is traced: one compilation serves every loop length.
  run = stage_lib.train_stages.lower(
      state, jnp.int32(1), schedule=build.schedule(config), sample_real=sampler,
      batch_size=config.batch_size).compile()
  flops = _flops(run)
  state, metrics, _ = run(state, jnp.int32(1))  # warm-up
  jax.block_until_ready(metrics)
  per_call = max(50, fused_stages // 10)
  start = time.perf_counter()
  for _ in range(per_call):
    state, metrics, _ = run(state, jnp.int32(1))
  jax.block_until_ready(metrics)
  per_call_rate = per_call / (time.perf_counter() - start)
  start = time.perf_counter()
  state, metrics, _ = run(state, jnp.int32(fused_stages))
  jax.block_until_ready(metrics)
  fused_rate = fused_stages / (time.perf_counter() - start)
  result = {'per_call_stages_per_s': per_call_rate, 'fused_stages_per_s': fused_rate,
            'fused_stages_per_call': fused_stages, 'speedup': fused_rate / per_call_rate,
            'mflop_per_stage': flops / 1e6}
  if machine_gflops:
    ceiling = machine_gflops * 1e9 / flops
    result.update(ceiling_stages_per_s=ceiling,
                  ceiling_speedup=ceiling / per_call_rate)
  return result


# The VAEs timed: the anchor MLP (784-200-200-50) and the conv pair, batch 100.
VAE_CASES = (('VAE MLP 784-200-200-50', 'mlp'), ('VAE conv (width 32)', 'conv'))


def vae_rates(steps: int, repeats: int) -> dict:
  """Train steps/s of each VAE on random 28×28 intensities (binarised in the step)."""
  rates = {}
  for name, architecture in VAE_CASES:
    model = vae_models.make_vae(architecture)
    state = vae_step.VAEState.create(rng=jax.random.PRNGKey(0), model=model,
                                     tx=optax.adam(1e-3), image_shape=(28, 28, 1),
                                     latent_dim=50)
    images = jax.random.uniform(jax.random.PRNGKey(1), (100, 28, 28, 1))
    carry = [state]

    def run():
      carry[0], metrics = vae_step.train_step(carry[0], images)
      return metrics

    for _ in range(3):
      jax.block_until_ready(run())
    rates[name] = 1 / median_time(run, steps * 10, repeats)
  return rates


# EM iterations timed: K = 10 full-covariance components, float32.
EM_CASES = ((10_000, 2), (10_000, 50), (100_000, 50))


def em_rates(iterations: int = 20) -> dict:
  """EM iterations/s (E-step + M-step) inside one jitted fit, per (N, d)."""
  rates = {}
  for n, d in EM_CASES:
    x = jax.random.normal(jax.random.PRNGKey(0), (n, d))
    init = em.initialize(x, em.kmeans_plus_plus(jax.random.PRNGKey(1), x, 10))
    fit = lambda: em.fit(x, init, max_iter=iterations, tol=-1.0).log_likelihood
    jax.block_until_ready(fit())  # compile
    rates[f'N={n}, d={d}'] = iterations / median_time(fit, 1, 3)
  return rates


# Each experiment's default configuration, stopped at its first evaluation and
# checkpoint (memory does not grow with the number of stages after that).
MEMORY_RUNS = (
    ('experiments.gan (ring8)', ['experiments.gan', '--steps=500']),
    ('experiments.gan --dataset=mnist', ['experiments.gan', '--dataset=mnist',
                                         '--steps=10', '--eval_every=10',
                                         '--checkpoint_every=10']),
    ('experiments.gan --dataset=stacked_mnist --schedule=exp2',
     ['experiments.gan', '--dataset=stacked_mnist', '--schedule=exp2',
      '--steps=4', '--eval_every=4', '--checkpoint_every=4']),
    ('experiments.mnist_classifier --epochs=1',
     ['experiments.mnist_classifier', '--epochs=1', '--min_accuracy=0']),
)


# Runs a command and reports its peak RSS. A small wrapper process of its own:
# a child spawned straight from this (large) benchmark process would count the
# parent's pages it shares until exec in its maximum RSS.
_RSS_WRAPPER = (
    'import resource, subprocess, sys; '
    'code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; '
    'print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)')


def peak_memory(module_args: list[str], workdir: str) -> dict:
  """Runs ``python -m ...``; returns its peak resident set size and wall time."""
  args = [sys.executable, '-m', *module_args]
  if module_args[0] == 'experiments.gan':
    args.append(f'--workdir={workdir}')
  else:
    args.append(f'--output={os.path.join(workdir, "classifier.msgpack")}')
  if _MANUAL_DIR.value:
    args.append(f'--manual_dir={_MANUAL_DIR.value}')
  if _DATA_DIR.value:
    args.append(f'--data_dir={_DATA_DIR.value}')
  start = time.perf_counter()
  wrapper = subprocess.run([sys.executable, '-c', _RSS_WRAPPER, *args],
                           capture_output=True, text=True, check=True)
  code, max_rss_kib = map(int, wrapper.stdout.split()[-2:])
  result = {'seconds': time.perf_counter() - start, 'returncode': code,
            'peak_rss_mib': max_rss_kib / 1024}
  if code != 0:
    result['error'] = wrapper.stderr.strip().splitlines()[-1:]
  return result


def _fmt(value, spec: str) -> str:
  return format(value, spec) if value is not None else '–'


def markdown(report: dict) -> str:
  lines = [f'Measured by `python -m benchmarks.speed` on {report["device"]} '
           f'({report["host"]}), JAX {report["jax_version"]}.', '']
  rates = report.get('matmul_gflops')
  if rates:
    lines += [f'Dense matmul (2048², float32): JAX {rates["jax"]:.1f} GFLOP/s'
              + (f', vi_gen\'s XLA options {rates["vi_gen"]:.1f}' if 'vi_gen' in rates
                 else '')
              + (f', PyTorch {rates["torch"]:.1f} GFLOP/s' if 'torch' in rates else '')
              + f'; machine rate {report["machine_gflops"]:.1f} GFLOP/s.', '']
  rows = report.get('dcgan', [])
  if rows:
    lines += ['| step (batch 64) | λ | vi_gen ms | steps/s | XLA GFLOP | GFLOP/s '
              '| of matmul | model GFLOP/s | of matmul | Flax layers ms | PyTorch ms '
              '| vi_gen vs PyTorch |', '|' + '---|' * 12]
    machine = report.get('machine_gflops')
    for r in rows:
      ms = lambda key: _fmt(r[key] * 1e3 if key in r else None, '.1f')
      share = lambda key: (_fmt(r[key] / machine * 100, '.0f') + '%'
                           if key in r and machine else '–')
      lines.append(
          f'| {r["model"]} | {r["reg_lambda"]:g} | {ms("seconds")} | '
          f'{_fmt(r.get("steps_per_s"), ".2f")} | {_fmt(r.get("gflop"), ".1f")} | '
          f'{_fmt(r.get("gflops"), ".1f")} | {share("gflops")} | '
          f'{_fmt(r.get("model_gflops"), ".1f")} | {share("model_gflops")} | '
          f'{ms("flax_layers_seconds")} | {ms("torch_seconds")} | '
          f'{_fmt(r.get("vs_torch"), ".2f")}{"×" if "vs_torch" in r else ""} |')
    lines.append('')
  overhead = report.get('reg_overhead')
  if overhead:
    lines += ['Regulariser overhead (step time at λ = '
              f'{_REG_LAMBDA.value:g} ÷ at λ = 0): '
              + ', '.join(f'{k} {v:.3f}×' for k, v in overhead.items()) + '.', '']
  exp1 = report.get('exp1')
  if exp1:
    by_model = {}
    for r in exp1:
      by_model.setdefault(r['model'], []).append(
          f'{r["seconds"] * 1e3:.1f} ms at λ = {r["reg_lambda"]:g} '
          f'({r["gflop"]:.1f} XLA GFLOP)')
    lines += ['The paper\'s exp1 stage (the image runs\' default: one D update, then '
              'two G updates on one z against G° = G at the stage\'s start), batch 64: '
              + '; '.join(f'{m} {", ".join(t)}, overhead '
                          f'{report["exp1_reg_overhead"][m]:.3f}×'
                          for m, t in by_model.items()) + '.', '']
  toy = report.get('toy2d')
  if toy:
    lines += ['| 2D ring8 GAN (batch 100) | stages/s, one per call | stages/s, '
              'fused | stages per fused call | fused ÷ per call | XLA MFLOP per '
              'stage | stages/s at the matmul rate | that ÷ per call |',
              '|' + '---|' * 8]
    ceiling = lambda t, key, spec: (f'{t[key]:{spec}}' if key in t else '–')
    lines += [f'| {name} | {t["per_call_stages_per_s"]:.0f} | '
              f'{t["fused_stages_per_s"]:.0f} | {t["fused_stages_per_call"]} | '
              f'{t["speedup"]:.1f}× | {t["mflop_per_stage"]:.1f} | '
              f'{ceiling(t, "ceiling_stages_per_s", ".0f")} | '
              f'{ceiling(t, "ceiling_speedup", ".1f")}'
              f'{"×" if "ceiling_speedup" in t else ""} |' for name, t in toy.items()]
    lines += ['', 'The last two columns are an upper bound: a fused loop that ran '
              'every stage\'s arithmetic at the dense-matmul rate and paid nothing '
              'else. Where "that ÷ per call" is below a goal for "fused ÷ per call", '
              'no fusion reaches the goal on this machine.', '']
  if 'vae_steps_per_s' in report:
    lines += ['VAE train steps/s (batch 100, 28×28, Bernoulli): '
              + ', '.join(f'{name} {rate:.0f}'
                          for name, rate in report['vae_steps_per_s'].items())
              + '.', '']
  if 'em_iterations_per_s' in report:
    lines += ['EM iterations/s (K = 10, full covariances, float32): '
              + ', '.join(f'{case} {rate:.1f}'
                          for case, rate in report['em_iterations_per_s'].items())
              + '.', '']
  pipe = report.get('pipeline')
  if pipe:
    lines += [f'Input pipeline ({pipe["dataset"]}, batch 64): '
              + (f'{pipe["pipeline_batches_per_s"]:.0f} batches/s against '
                 f'{pipe["train_steps_per_s"]:.2f} training steps/s '
                 f'({pipe["pipeline_batches_per_s"] / pipe["train_steps_per_s"]:.0f}× '
                 'headroom).' if 'pipeline_batches_per_s' in pipe
                 else f'skipped: {pipe["skipped"]}.'), '']
  memory = report.get('memory')
  if memory:
    lines += ['| default run | peak RSS MiB | wall s | exit |', '|---|---|---|---|']
    lines += [f'| `{name}` | {m["peak_rss_mib"]:.0f} | {m["seconds"]:.0f} | '
              f'{m["returncode"]} |' for name, m in memory.items()]
    lines.append('')
  return '\n'.join(lines)


def main(argv):
  del argv
  quiet_logs.install()
  logging.set_verbosity(logging.WARNING)
  sections = set(_SECTIONS.value)
  unknown = sections - set(SECTIONS)
  if unknown:
    raise app.UsageError(f'unknown sections: {", ".join(sorted(unknown))}')
  device = jax.devices()[0]
  report = {'device': f'{device.platform} ({device.device_kind}), '
                      f'{jax.device_count()} device(s)',
            'host': f'{platform.machine()}, {os.cpu_count()} CPU cores',
            'jax_version': jax.__version__}

  if 'matmul' in sections:
    rates = matmul_rates()
    report['matmul_gflops'] = rates
    report['machine_gflops'] = max(rates.values())
    print(f'matmul GFLOP/s: {rates}', flush=True)

  if sections & {'dcgan', 'torch'}:
    print('DCGAN steps:', flush=True)
    rows = dcgan_rows(sections, _STEPS.value, _REPEATS.value)
    report['dcgan'] = rows
    if 'dcgan' in sections:
      report['reg_overhead'] = reg_overhead(rows)

  if 'exp1' in sections:
    print('exp1 stages:', flush=True)
    report['exp1'] = exp1_rows(_STEPS.value, _REPEATS.value)
    report['exp1_reg_overhead'] = reg_overhead(report['exp1'])

  if 'toy2d' in sections:
    report['toy2d'] = {}
    for name, overrides in TOY2D_CASES:
      report['toy2d'][name] = toy2d_rates(_FUSED_STAGES.value,
                                          report.get('machine_gflops'), **overrides)
      print(f'2D, {name}: {report["toy2d"][name]}', flush=True)

  if 'vae_em' in sections:
    report['vae_steps_per_s'] = vae_rates(_STEPS.value, _REPEATS.value)
    print(f'VAE: {report["vae_steps_per_s"]}', flush=True)
    report['em_iterations_per_s'] = em_rates()
    print(f'EM: {report["em_iterations_per_s"]}', flush=True)

  if 'pipeline' in sections:
    config = step_config('mnist', 0.0)
    try:
      rate = pipeline.pipeline_rate(config, 300, data_dir=_DATA_DIR.value,
                                    manual_dir=_MANUAL_DIR.value)
      train = next((r['steps_per_s'] for r in report.get('dcgan', [])
                    if r['dataset'] == 'mnist' and 'steps_per_s' in r), None)
      report['pipeline'] = {'dataset': 'mnist', 'pipeline_batches_per_s': rate,
                            'train_steps_per_s': train}
      if train is None:
        report['pipeline'] = {'dataset': 'mnist',
                              'skipped': 'needs the dcgan section'}
    except Exception as e:  # pylint: disable=broad-except
      report['pipeline'] = {'dataset': 'mnist',
                            'skipped': f'TFDS could not provide MNIST ({type(e).__name__})'}
    print(f'pipeline: {report["pipeline"]}', flush=True)

  if 'memory' in sections:
    report['memory'] = {}
    for name, args in MEMORY_RUNS:
      with tempfile.TemporaryDirectory() as workdir:
        report['memory'][name] = peak_memory(args, workdir)
      print(f'memory: {name}: {report["memory"][name]}', flush=True)

  table = markdown(report)
  print('\n' + table)
  if sections != set(SECTIONS) and not flags.FLAGS['out_dir'].present:
    print('(a partial run: not written over the full results; give --out_dir '
          'to keep it)')
    return
  suffix = '' if device.platform == 'cpu' else f'_{device.platform}'
  stats.write_results(_OUT_DIR.value, f'speed{suffix}', table, report)


if __name__ == '__main__':
  app.run(main)
