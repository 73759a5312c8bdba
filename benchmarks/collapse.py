r"""Mode collapse on the 2D mixtures: λ = 0 against λ > 0 under each anchor policy.

    python -m benchmarks.collapse                    # 10 seeds, ring8 + grid25, 4 arms
    python -m benchmarks.collapse --seeds=3 --steps=500 --datasets=ring8   # a quick look

The protocol is PacGAN's (Lin et al., 2018, Table 1): PacGAN's 2D networks
(vi_gen/models/mlp2d.py), batch 100, z ~ N(0, I₂), 2,500 samples scored after
training, mean ± standard error over seeds. Arms:

* ``control``: λ = 0, one D and one G update per stage;
* ``previous``: λ = --lambda_previous, G° = G before the previous G update;
* ``stage control``: λ = 0, one D update then two G updates on the same z;
* ``stage``: λ = --lambda_stage, same schedule, G° = G at the start of the stage
  (the paper's experiment-1 schedule).

Budget: PacGAN trains 400 epochs of 1,000 batches (400,000 iterations) at
Adam(1e-4, β₁ = 0.8). That is hours per run on two CPU cores, so this benchmark
trains the recipe ``configs/gan_ring8.py`` (Adam(1e-3, β₁ = 0.5)) for --steps
stages (default 1,000), each arm changing only λ, the anchor and the G
updates per stage: the figures are for that budget, not for PacGAN's. Results go to stdout and to
--out_dir/collapse.{md,json}.
"""

import dataclasses
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import stats
from vi_gen.data import toy2d
from vi_gen.metrics.modes2d import mode_metrics
from vi_gen.metrics import evaluation
from vi_gen.training import build
from vi_gen.training import config as config_lib
from vi_gen.training import seeds
import configs
from vi_gen.training.stage import train_stages

_SEEDS = flags.DEFINE_integer('seeds', 10, 'Seeds per arm.')
_STEPS = flags.DEFINE_integer('steps', 1000, 'Stages per run (the budget).')
_DATASETS = flags.DEFINE_list('datasets', ['ring8', 'grid25'], 'Mixtures.')
_LAMBDA_PREVIOUS = flags.DEFINE_float('lambda_previous', 100.0,
                                      'λ for the anchor=previous arm.')
_LAMBDA_STAGE = flags.DEFINE_float('lambda_stage', 10.0,
                                   'λ for the anchor=stage arm.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results',
                               'Where collapse.md and collapse.json go.')
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
  return [
      ('control (λ=0)', dict(reg_lambda=0.0, anchor='previous', g_repeats=1)),
      (f'previous (λ={_LAMBDA_PREVIOUS.value:g})',
       dict(reg_lambda=_LAMBDA_PREVIOUS.value, anchor='previous', g_repeats=1)),
      ('stage control (λ=0, 2 G updates)',
       dict(reg_lambda=0.0, anchor='stage', g_repeats=2)),
      (f'stage (λ={_LAMBDA_STAGE.value:g}, 2 G updates)',
       dict(reg_lambda=_LAMBDA_STAGE.value, anchor='stage', g_repeats=2)),
  ]


def _score(config: config_lib.GANConfig, state, bad_step) -> dict:
  mixture = toy2d.get_mixture(config.dataset)
  z = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(config.seed), 1),
                        (config.eval_samples, config.latent_dim))
  result = mode_metrics(evaluation.generate(state, z), mixture.means, mixture.sigma)
  return {'modes': int(result.modes), 'hq': float(result.hq),
          'reverse_kl': float(result.reverse_kl), 'diverged_at': int(bad_step)}


def _train_kwargs(config):
  return dict(schedule=build.schedule(config),
              sample_real=toy2d.real_sampler(config.dataset),
              batch_size=config.batch_size)


def run_one(config: config_lib.GANConfig) -> tuple[dict, float]:
  """Trains one seed for config.steps stages; returns final metrics and seconds."""
  start = time.perf_counter()
  state = build.create_state(config)
  state, _, bad_step = train_stages(
      state, jnp.asarray(config.steps, jnp.int32), **_train_kwargs(config))
  return _score(config, state, bad_step), time.perf_counter() - start


def run_bundle(seed_configs) -> tuple[list[dict], float]:
  """Trains the seeds of ``seed_configs`` (one arm) as one vmapped program;
  returns each seed's final metrics and the seconds per seed."""
  start = time.perf_counter()
  bundle = seeds.stack([build.create_state(c) for c in seed_configs])
  config = seed_configs[0]
  bundle, _, bad = seeds.train_stages_many(
      bundle, jnp.asarray(config.steps, jnp.int32), **_train_kwargs(config))
  states = seeds.unstack(bundle, len(seed_configs))
  scores = [_score(c, s, b) for c, s, b in zip(seed_configs, states, bad)]
  return scores, (time.perf_counter() - start) / len(seed_configs)


def main(argv):
  del argv
  base = configs.load('gan_ring8', steps=_STEPS.value)
  bundle = (_BUNDLE.value if _BUNDLE.value is not None
            else jax.default_backend() != 'cpu')
  rows = []
  for dataset in _DATASETS.value:
    num_modes = toy2d.get_mixture(dataset).num_modes
    for name, overrides in arms():
      seed_configs = [dataclasses.replace(base, dataset=dataset, seed=seed,
                                          **overrides)
                      for seed in range(_SEEDS.value)]
      def show(seed, scores, wall):
        print(f'  {dataset} {name} seed {seed}: {scores["modes"]}/{num_modes} '
              f'modes, {scores["hq"]:.1f}% HQ, KL {scores["reverse_kl"]:.3f} '
              f'({wall:.1f} s)', flush=True)
      if bundle:
        runs, wall = run_bundle(seed_configs)
        seconds = [wall] * len(runs)
        for config, scores in zip(seed_configs, runs):
          show(config.seed, scores, wall)
      else:
        runs, seconds = [], []
        for config in seed_configs:
          scores, wall = run_one(config)
          runs.append(scores)
          seconds.append(wall)
          show(config.seed, scores, wall)
      row = {'dataset': dataset, 'arm': name, **overrides,
             'seeds': _SEEDS.value, 'steps': _STEPS.value, 'bundled': bundle,
             'wall_s_per_run': float(np.median(seconds)),  # Seed 0 also compiles.
             'diverged': sum(r['diverged_at'] > 0 for r in runs),
             'runs': runs}
      for key in ('modes', 'hq', 'reverse_kl'):
        row[key], row[key + '_se'] = stats.mean_se([r[key] for r in runs])
      rows.append(row)
      print(_format_row(row), flush=True)

  table = markdown_table(rows, base)
  print('\n' + table)
  stats.write_results(_OUT_DIR.value, 'collapse', table,
                      {'config': dataclasses.asdict(base), 'rows': rows})


def _format_row(row):
  return (f'{row["dataset"]:7s} {row["arm"]:34s} modes {row["modes"]:.1f} ± '
          f'{row["modes_se"]:.1f}  HQ {row["hq"]:.1f} ± {row["hq_se"]:.1f}%  '
          f'KL {row["reverse_kl"]:.3f} ± {row["reverse_kl_se"]:.3f}  '
          f'{row["wall_s_per_run"]:.1f} s/run')


def markdown_table(rows, base):
  lines = [
      f'Budget: {base.steps} stages per run, batch {base.batch_size}, '
      f'Adam({base.g_lr:g}, β₁={base.beta1:g}), {rows[0]["seeds"]} seeds; '
      'mean ± standard error; 2,500 samples scored after training.', '',
      '| dataset | arm | modes | HQ % | reverse KL | median wall s/run | diverged |',
      '|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(
        f'| {r["dataset"]} | {r["arm"]} | {r["modes"]:.1f} ± {r["modes_se"]:.1f} '
        f'| {r["hq"]:.1f} ± {r["hq_se"]:.1f} | {r["reverse_kl"]:.3f} ± '
        f'{r["reverse_kl_se"]:.3f} | {r["wall_s_per_run"]:.1f} | '
        f'{r["diverged"]} |')
  lines += ['', 'Published, PacGAN Table 1 (its networks, 400 epochs):', '',
            '| dataset | model | modes | HQ % | reverse KL |', '|---|---|---|---|---|']
  for dataset in dict.fromkeys(r['dataset'] for r in rows):
    for model, modes, hq, kl in PUBLISHED.get(dataset, []):
      lines.append(f'| {dataset} | {model} | {modes} | {hq} | {kl} |')
  return '\n'.join(lines) + '\n'


if __name__ == '__main__':
  app.run(main)
