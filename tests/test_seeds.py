"""Many seeds, one program: each seed of a bundle is its single-seed run.

Tolerance, for every comparison here: rtol 1e-4, atol 1e-5 after three
stages. ``vmap`` batches the same float32 products and sums, which XLA may
order differently from the unbatched program: after one stage the 2D
networks' parameters differ by at most 4e-6 (measured), almost all of it in
the biases before BatchNorm, whose gradient is zero but for rounding and
which Adam turns into steps of up to the learning rate. Three stages stay
well inside 1e-4 on these networks; over hundreds of stages GAN training
amplifies such differences as it does any reordering, so a bundle's seed is
then an equally likely run of that seed, not a bit-for-bit replay
(``vi_gen/training/seeds.py``).
"""

import dataclasses
import os

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from tests import shared_data
from vi_gen.data import toy2d
from vi_gen.training import adversarial
from vi_gen.training import build
from vi_gen.training import loop
from vi_gen.training import seeds
from vi_gen.training import stage as stage_lib
from vi_gen.training.config import ConfigError, GANConfig
import configs

# PacGAN's 2D networks shrunk, with BatchNorm in G (the default), λ > 0 so
# that the anchor G° is exercised.
TINY = GANConfig(g_hidden=16, g_depth=2, d_hidden=8, d_depth=2, d_pieces=2,
                 batch_size=16, reg_lambda=5.0, steps=4, eval_every=2,
                 checkpoint_every=2, eval_samples=200)
STAGES = 3
TOL = dict(rtol=1e-4, atol=1e-5)


def _kwargs(config):
  return dict(schedule=build.schedule(config),
              sample_real=toy2d.real_sampler(config.dataset),
              batch_size=config.batch_size, stage_fn=build.stage_fn(config))


def _one_by_one(configs_):
  return [stage_lib.train_stages(build.create_state(c), jnp.asarray(STAGES),
                                 **_kwargs(c)) for c in configs_]


def _dcgan(**overrides):
  # The paper's exp1 DCGAN (BatchNorm, G° per stage, two G updates), shrunk.
  return dataclasses.replace(configs.recipe('mnist', 'exp1'), width=4, batch_size=8,
                             latent_dim=8, **overrides)


def _poison_generator(state):
  return state.replace(g_params=jax.tree.map(lambda p: jnp.full_like(p, jnp.nan),
                                             state.g_params))


class BundleTest(parameterized.TestCase):

  def test_each_seed_of_a_2d_bundle_is_its_single_seed_run(self):
    configs_ = [dataclasses.replace(TINY, seed=s) for s in (3, 4)]
    bundle = seeds.stack([build.create_state(c) for c in configs_])
    bundle, metrics, bad = seeds.train_stages_many(
        bundle, jnp.asarray(STAGES), **_kwargs(TINY))
    np.testing.assert_array_equal(bad, [0, 0])
    for k, (state, single_metrics, _) in enumerate(_one_by_one(configs_)):
      chex.assert_trees_all_close(seeds.unstack(bundle, 2)[k], state, **TOL)
      chex.assert_trees_all_close(jax.tree.map(lambda m, k=k: m[k], metrics),
                                  single_metrics, **TOL)

  def test_a_seed_given_no_stages_is_left_as_it_is(self):
    configs_ = [dataclasses.replace(TINY, seed=s) for s in (3, 4)]
    states = [build.create_state(c) for c in configs_]
    before = jax.device_get(states[1])
    bundle, _, _ = seeds.train_stages_many(
        seeds.stack(states), jnp.asarray([STAGES, 0]), **_kwargs(TINY))
    trained, idle = seeds.unstack(bundle, 2)
    self.assertEqual(int(trained.step), STAGES)
    chex.assert_trees_all_equal(jax.device_get(idle), before)

  @parameterized.parameters('vmap', 'unroll')
  def test_each_seed_of_a_dcgan_bundle_is_its_single_seed_run(self, batching):
    config = _dcgan()
    configs_ = [dataclasses.replace(config, seed=s) for s in (1, 2)]
    schedule, stage_fn = build.schedule(config), build.stage_fn(config)
    shape = (config.d_steps, config.batch_size, 28, 28, 1)
    reals = [jax.random.uniform(jax.random.PRNGKey(10 + i), (2, *shape),
                                minval=-1, maxval=1) for i in range(STAGES)]
    singles = []
    for k, c in enumerate(configs_):
      state = build.create_state(c)
      totals = stage_lib.zero_totals(state, shape, schedule, stage_fn)
      for real in reals:
        state, totals = stage_lib.train_stage_on_batch(
            state, real[k], totals, schedule=schedule, stage_fn=stage_fn)
      singles.append((state, totals))
    bundle = seeds.stack([build.create_state(c) for c in configs_])
    totals = seeds.zero_totals_many(bundle, shape, schedule, stage_fn)
    for real in reals:
      bundle, totals = seeds.train_stage_on_batch_many(
          bundle, real, totals, jnp.asarray([True, True]), schedule=schedule,
          stage_fn=stage_fn, batching=batching)
    for k, (state, single_totals) in enumerate(singles):
      chex.assert_trees_all_close(seeds.unstack(bundle, 2)[k], state, **TOL)
      chex.assert_trees_all_close(seeds.unstack(totals, 2)[k], single_totals,
                                  **TOL)

  def test_a_non_finite_2d_seed_is_frozen_and_named_the_others_train_on(self):
    configs_ = [dataclasses.replace(TINY, seed=s) for s in (3, 4)]
    states = [build.create_state(c) for c in configs_]
    states[1] = _poison_generator(states[1])  # its first G loss is NaN
    bundle, _, bad = seeds.train_stages_many(
        seeds.stack(states), jnp.asarray(STAGES), **_kwargs(TINY))
    np.testing.assert_array_equal(bad, [0, 1])
    healthy, poisoned = seeds.unstack(bundle, 2)
    self.assertEqual(int(healthy.step), STAGES)
    self.assertEqual(int(poisoned.step), 1)  # stopped at its first bad stage
    chex.assert_trees_all_close(healthy, _one_by_one(configs_[:1])[0][0], **TOL)

  @parameterized.parameters('vmap', 'unroll')
  def test_a_non_finite_image_seed_stops_at_its_first_bad_stage(self, batching):
    config = _dcgan()
    states = [build.create_state(dataclasses.replace(config, seed=s)) for s in (1, 2)]
    states[0] = _poison_generator(states[0])
    schedule, stage_fn = build.schedule(config), build.stage_fn(config)
    shape = (config.d_steps, config.batch_size, 28, 28, 1)
    bundle = seeds.stack(states)
    totals = seeds.zero_totals_many(bundle, shape, schedule, stage_fn)
    for i in range(STAGES):
      real = jax.random.uniform(jax.random.PRNGKey(i), (2, *shape), minval=-1)
      bundle, totals = seeds.train_stage_on_batch_many(
          bundle, real, totals, jnp.asarray([True, True]), schedule=schedule,
          stage_fn=stage_fn, batching=batching)
    np.testing.assert_array_equal(totals[2], [1, 0])
    np.testing.assert_array_equal(totals[1], [1, STAGES])
    np.testing.assert_array_equal(bundle.step, [1, STAGES])


def _run(config, workdir, **kwargs):
  return adversarial.train_and_evaluate(config, workdir, **kwargs)


class ManySeedRunTest(absltest.TestCase):

  def test_writes_each_seed_and_the_mean_and_resumes(self):
    workdir = self.create_tempdir().full_path
    config = dataclasses.replace(TINY, seed=5, num_seeds=3)
    final = _run(config, workdir)
    self.assertEqual(final['step'], 4)
    self.assertEqual(final['seeds'], 3)
    self.assertEqual(final['diverged'], {})
    per_seed = []
    for seed in (5, 6, 7):
      seed_dir = os.path.join(workdir, f'seed{seed}')
      records = shared_data.read_metrics(seed_dir)
      self.assertEqual([r['step'] for r in records], [2, 4])
      self.assertTrue(os.path.exists(os.path.join(seed_dir, 'samples_0000004.png')))
      per_seed.append(records[-1])
    for name in ('modes', 'hq', 'reverse_kl'):
      values = [r[name] for r in per_seed]
      self.assertAlmostEqual(final[name], np.mean(values), places=5)
      self.assertAlmostEqual(final[f'{name}_se'],
                             np.std(values, ddof=1) / np.sqrt(3), places=5)
    self.assertAlmostEqual(final['d_loss'], np.mean([r['d_loss'] for r in per_seed]),
                           places=5)
    # Resuming continues the bundle from its checkpoint, every seed's record too.
    final = _run(dataclasses.replace(config, steps=6), workdir)
    self.assertEqual(final['step'], 6)
    self.assertEqual([r['step'] for r in shared_data.read_metrics(
        os.path.join(workdir, 'seed6'))], [2, 4, 6])
    self.assertEqual([r['step'] for r in shared_data.read_metrics(workdir)],
                     [2, 4, 6])

  def test_a_diverged_seed_is_reported_and_the_others_finish(self):
    workdir = self.create_tempdir().full_path
    create = build.create_state

    def create_poisoning_seed_1(config):
      state = create(config)
      return _poison_generator(state) if config.seed == 1 else state
    with absltest.mock.patch.object(build, 'create_state', create_poisoning_seed_1):
      final = _run(dataclasses.replace(TINY, num_seeds=2), workdir)
    self.assertEqual(final['diverged'], {'1': 1})
    self.assertEqual(final['seeds'], 1)
    self.assertEqual(final['step'], 4)
    self.assertEqual(shared_data.read_metrics(os.path.join(workdir, 'seed1')),
                     [{'step': 1, 'diverged': True}])
    self.assertEqual([r['step'] for r in shared_data.read_metrics(
        os.path.join(workdir, 'seed0'))], [2, 4])

  def test_every_seed_diverging_stops_the_run(self):
    workdir = self.create_tempdir().full_path
    # Adam moves each weight by about the rate: 1e38 overflows float32 at once.
    config = dataclasses.replace(TINY, num_seeds=2, g_lr=1e38, d_lr=1e38)
    with self.assertRaisesRegex(loop.NonFiniteLossError, 'non-finite loss at stage'):
      _run(config, workdir)

  def test_no_seeds_is_refused(self):
    with self.assertRaisesRegex(ConfigError, 'num_seeds must be >= 1, got 0'):
      _run(dataclasses.replace(TINY, num_seeds=0), self.create_tempdir().full_path)

  def test_a_bundle_that_does_not_fit_is_refused_before_training(self):
    workdir = self.create_tempdir().full_path
    with absltest.mock.patch.object(seeds, 'available_bytes', lambda: 1000):
      with self.assertRaisesRegex(ConfigError, r'2 seeds need .* GiB .* is free; '
                                  'use fewer --num_seeds'):
        _run(dataclasses.replace(TINY, num_seeds=2), workdir)
    self.assertFalse(os.path.exists(os.path.join(workdir, 'metrics.jsonl')))

  def test_the_training_call_is_checked_against_free_memory(self):
    # The states fit, XLA's estimate of one training call does not.
    workdir = self.create_tempdir().full_path
    state_bytes = seeds.tree_bytes(build.create_state(TINY))
    with absltest.mock.patch.object(seeds, 'available_bytes',
                                    lambda: 2 * state_bytes + 1):
      with self.assertRaisesRegex(ConfigError, "beyond their states for one "
                                  "training call \\(XLA's memory analysis"):
        _run(dataclasses.replace(TINY, num_seeds=2), workdir)
    self.assertEmpty(shared_data.read_metrics(workdir)
                     if os.path.exists(os.path.join(workdir, 'metrics.jsonl'))
                     else [])

  def test_image_seeds_on_mock_data(self):
    workdir = self.create_tempdir().full_path
    config = _dcgan(steps=2, eval_every=1, checkpoint_every=1, eval_samples=48,
                    num_seeds=2)
    with shared_data.mock_tfds():
      final = _run(config, workdir)
    self.assertEqual(final['seeds'], 2)
    self.assertIn('fd_se', final)
    for seed in (0, 1):
      seed_dir = os.path.join(workdir, f'seed{seed}')
      self.assertEqual([r['step'] for r in shared_data.read_metrics(seed_dir)],
                       [1, 2])
      self.assertTrue(os.path.exists(os.path.join(seed_dir, 'samples_0000002.png')))


if __name__ == '__main__':
  absltest.main()
