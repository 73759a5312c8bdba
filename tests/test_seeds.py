"""A bundle of seeds trained in one vmapped program equals its seeds trained one by one.

The comparisons run with XLA's normal compilation, in a subprocess: with its
optimisation passes off (the unit tests' setting) the vmapped stage loop
computes NaN gradients on this CPU (``vi_gen/training/seeds.py``).
"""

import dataclasses
import os
import subprocess
import sys

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp
import numpy as np

from vi_gen.data import toy2d
from vi_gen.training import build
from vi_gen.training import seeds
from vi_gen.training import stage as stage_lib
from vi_gen.training.config import GANConfig

# PacGAN's 2D networks shrunk, with BatchNorm in G (the default), λ > 0 so
# that the anchor G° is exercised.
TINY = GANConfig(g_hidden=16, g_depth=2, d_hidden=8, d_depth=2, d_pieces=2,
                 batch_size=16, reg_lambda=5.0)
STAGES = 3


def _kwargs(config):
  return dict(schedule=build.schedule(config),
              sample_real=toy2d.real_sampler(config.dataset),
              batch_size=config.batch_size, stage_fn=build.stage_fn(config))


def _one_by_one(configs):
  out = []
  for config in configs:
    state, metrics, bad = stage_lib.train_stages(
        build.create_state(config), jnp.asarray(STAGES), **_kwargs(config))
    out.append((state, metrics, bad))
  return out


class BundleTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    if jax.config.read('jax_disable_most_optimizations'):
      self.skipTest('needs XLA\'s optimisation passes; OptimizedTest runs it so')

  def test_each_seed_of_a_bundle_is_its_single_seed_run(self):
    configs = [dataclasses.replace(TINY, seed=s) for s in (3, 4)]
    bundle = seeds.stack([build.create_state(c) for c in configs])
    bundle, metrics, bad = seeds.train_stages_many(
        bundle, jnp.asarray(STAGES), **_kwargs(TINY))
    np.testing.assert_array_equal(bad, [0, 0])
    # Tolerance: vmap batches the same float32 products and sums, which XLA
    # may order differently from the unbatched program; three Adam stages
    # move parameters by ~1e-3 each, so differences of the order of float32
    # rounding (relative 1e-6 per operation) stay far below 1e-4.
    for k, (state, single_metrics, _) in enumerate(_one_by_one(configs)):
      chex.assert_trees_all_close(seeds.unstack(bundle, 2)[k], state,
                                  rtol=1e-4, atol=1e-5)
      chex.assert_trees_all_close(jax.tree.map(lambda m, k=k: m[k], metrics),
                                  single_metrics, rtol=1e-4, atol=1e-5)
    self.assertEqual(int(seeds.unstack(bundle, 2)[1].step), STAGES)

  def test_a_non_finite_seed_is_frozen_and_named_the_others_train_on(self):
    configs = [dataclasses.replace(TINY, seed=s) for s in (3, 4)]
    states = [build.create_state(c) for c in configs]
    # Seed 4's generator is poisoned: its first stage's G loss is NaN.
    states[1] = states[1].replace(g_params=jax.tree.map(
        lambda p: jnp.full_like(p, jnp.nan), states[1].g_params))
    bundle, _, bad = seeds.train_stages_many(
        seeds.stack(states), jnp.asarray(STAGES), **_kwargs(TINY))
    np.testing.assert_array_equal(bad, [0, 1])
    healthy, poisoned = seeds.unstack(bundle, 2)
    self.assertEqual(int(healthy.step), STAGES)
    self.assertEqual(int(poisoned.step), 1)  # stopped at its first bad stage
    chex.assert_trees_all_close(healthy, _one_by_one(configs[:1])[0][0],
                                rtol=1e-4, atol=1e-5)


class OptimizedTest(absltest.TestCase):

  def test_bundle_tests_pass_with_xla_optimisations(self):
    env = dict(os.environ, VI_GEN_TEST_OPTIMIZE='1')
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-n', '0',
         f'{__file__}::BundleTest'],
        env=env, capture_output=True, text=True, check=False)
    self.assertEqual(result.returncode, 0, result.stdout[-6000:])
    self.assertIn('2 passed', result.stdout)


if __name__ == '__main__':
  absltest.main()
