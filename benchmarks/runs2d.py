"""One 2D GAN run of the PacGAN protocol, trained in one call and scored after.

Shared by the benchmarks that train many 2D runs (:mod:`benchmarks.collapse`,
:mod:`benchmarks.stability`): a run is its configuration; its scores are the
protocol's modes, HQ and reverse KL of 2,500 samples drawn with a key fixed by
the seed, and ``diverged_at``, the first stage whose loss was not finite (0 if
none).
"""

import time

import jax
import jax.numpy as jnp

from vi_gen.data import toy2d
from vi_gen.metrics import evaluation
from vi_gen.metrics.modes2d import mode_metrics
from vi_gen.training import build
from vi_gen.training import config as config_lib
from vi_gen.training import seeds
from vi_gen.training.stage import train_stages


def score(config: config_lib.GANConfig, state, bad_step) -> dict:
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
  # Trained before scoring starts: else the scoring's progress line counts the
  # training, which JAX dispatches asynchronously, as its own time.
  state = jax.block_until_ready(state)
  return score(config, state, bad_step), time.perf_counter() - start


def run_bundle(seed_configs) -> tuple[list[dict], float]:
  """Trains the seeds of ``seed_configs`` (one arm) as one vmapped program;
  returns each seed's final metrics and the seconds per seed."""
  start = time.perf_counter()
  bundle = seeds.stack([build.create_state(c) for c in seed_configs])
  config = seed_configs[0]
  bundle, _, bad = seeds.train_stages_many(
      bundle, jnp.asarray(config.steps, jnp.int32), **_train_kwargs(config))
  bundle = jax.block_until_ready(bundle)  # see run_one
  states = seeds.unstack(bundle, len(seed_configs))
  scores = [score(c, s, b) for c, s, b in zip(seed_configs, states, bad)]
  return scores, (time.perf_counter() - start) / len(seed_configs)
