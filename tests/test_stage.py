"""The GAN stage: anchor bookkeeping, the regulariser's gradient, G's average, tracing."""

import functools
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vi_gen.data import toy2d
from vi_gen.losses import gan
from vi_gen.models.mlp2d import MaxoutDiscriminator, MLPGenerator
from vi_gen.training.schedule import Schedule
from vi_gen.training import stage as stage_lib
from vi_gen.training import state as state_lib
from vi_gen.training.stage import averaging, gan_stage, train_stages
from vi_gen.training.state import GANState, apply_model, averaged

BATCH = 8


def _state(seed=0, lr=1e-2, g_average=False):
  return GANState.create(
      g_average=g_average,
      rng=jax.random.PRNGKey(seed),
      generator=MLPGenerator(hidden=16, depth=2),
      discriminator=MaxoutDiscriminator(hidden=8, depth=2, pieces=3),
      g_tx=optax.adam(lr, 0.5), d_tx=optax.adam(lr, 0.5),
      latent_shape=(2,), data_shape=(2,))


def _real(schedule, seed=1):
  return toy2d.ring8().sample(jax.random.PRNGKey(seed),
                              schedule.d_steps * BATCH).reshape(
                                  schedule.d_steps, BATCH, 2)


def _stage_fn(schedule):
  return jax.jit(functools.partial(gan_stage, schedule=schedule))


class RegulariserGradientTest(absltest.TestCase):
  """The gradient of ‖G(z) − G°(z)‖² through a BatchNorm generator."""

  def _drift_grad(self, params, anchor_params, state):
    z = jax.random.normal(jax.random.PRNGKey(3), (BATCH, 2))

    def drift(p):
      fake, _ = apply_model(state.generator, p, state.g_batch_stats, z, train=True)
      anchor, _ = apply_model(state.generator, anchor_params,
                              state.g_batch_stats, z, train=True)
      return gan.generator_drift(fake, anchor).mean()

    return jax.grad(drift)(params)

  def test_zero_when_anchor_equals_current(self):
    state = _state()
    grad = self._drift_grad(state.g_params, state.g_params, state)
    for leaf in jax.tree.leaves(grad):
      np.testing.assert_array_equal(leaf, np.zeros_like(leaf))

  def test_nonzero_with_lagged_anchor(self):
    state = _state()
    lagged = jax.tree.map(lambda p: p - 1e-2, state.g_params)
    grad = self._drift_grad(state.g_params, lagged, state)
    self.assertGreater(float(optax.tree.norm(grad)), 0.0)


class AnchorPolicyTest(parameterized.TestCase):

  def test_stage_anchor_is_generator_at_stage_start(self):
    schedule = Schedule(reg_lambda=5.0, anchor='stage', g_steps=2, g_repeats=2)
    stage = _stage_fn(schedule)
    state = _state()
    for _ in range(3):
      start = state.g_params
      state, _ = stage(state, _real(schedule))
      chex.assert_trees_all_equal(state.g_anchor_params, start)
      # Four G updates moved G away from its anchor.
      self.assertGreater(float(optax.tree.norm(
          jax.tree.map(jnp.subtract, state.g_params, start))), 0.0)

  def test_previous_anchor_lags_one_update(self):
    one = Schedule(reg_lambda=5.0, anchor='previous', g_steps=1, g_repeats=1)
    stage = _stage_fn(one)
    state = _state()
    for _ in range(3):
      before = state.g_params
      state, _ = stage(state, _real(one))
      chex.assert_trees_all_equal(state.g_anchor_params, before)

  def test_previous_anchor_within_a_stage(self):
    # With two updates on the same z, G° after the stage is G after the first
    # update, which is what the same stage with one update ends with.
    two = Schedule(reg_lambda=5.0, anchor='previous', g_repeats=2)
    one = Schedule(reg_lambda=5.0, anchor='previous', g_repeats=1)
    state = _state()
    after_two, _ = _stage_fn(two)(state, _real(two))
    after_one, _ = _stage_fn(one)(_state(), _real(one))
    chex.assert_trees_all_close(after_two.g_anchor_params, after_one.g_params,
                                rtol=1e-6, atol=1e-7)

  def test_stage_policy_with_one_update_is_inert(self):
    inert = Schedule(reg_lambda=5.0, anchor='stage', g_steps=1, g_repeats=1)
    self.assertIsNotNone(inert.inert_reason())
    plain = Schedule(reg_lambda=0.0, anchor='stage', g_steps=1, g_repeats=1)
    with_term, _ = _stage_fn(inert)(_state(), _real(inert))
    without, _ = _stage_fn(plain)(_state(), _real(plain))
    chex.assert_trees_all_close(with_term.g_params, without.g_params, rtol=1e-6,
                                atol=1e-7)

  def test_term_acts_with_two_repeats(self):
    active = Schedule(reg_lambda=5.0, anchor='stage', g_repeats=2)
    self.assertIsNone(active.inert_reason())
    plain = Schedule(reg_lambda=0.0, anchor='stage', g_repeats=2)
    with_term, m = _stage_fn(active)(_state(), _real(active))
    without, _ = _stage_fn(plain)(_state(), _real(plain))
    self.assertGreater(float(m['g_drift']), 0.0)
    diff = jax.tree.map(jnp.subtract, with_term.g_params, without.g_params)
    self.assertGreater(float(optax.tree.norm(diff)), 0.0)

  @parameterized.parameters(
      dict(anchor='other'), dict(reg_lambda=-1.0), dict(reg_lambda=float('nan')),
      dict(d_steps=0), dict(g_steps=0), dict(g_repeats=0))
  def test_invalid_schedule(self, **kwargs):
    with self.assertRaises(ValueError):
      Schedule(**kwargs)


class KnownAnchorOutputTest(parameterized.TestCase):
  """Where G°(z) is already known, the stage skips its forward pass, and nothing else changes."""

  @parameterized.parameters(
      # (anchor, g_steps, g_repeats, per (step, repeat) what is known)
      ('stage', 1, 2, {(0, 0): 'current', (0, 1): 'previous'}),
      ('stage', 2, 3, {(0, 0): 'current', (0, 1): 'previous', (0, 2): None,
                       (1, 0): None, (1, 1): None, (1, 2): None}),
      ('previous', 2, 3, {(0, 0): None, (0, 1): 'previous', (0, 2): 'previous',
                          (1, 0): None, (1, 1): 'previous', (1, 2): 'previous'}))
  def test_which_updates_know_the_anchor_output(self, anchor, g_steps, g_repeats,
                                                 known):
    schedule = Schedule(reg_lambda=1.0, anchor=anchor, g_steps=g_steps,
                        g_repeats=g_repeats)
    self.assertEqual({(i, r): schedule.known_anchor_output(i, r)
                      for i in range(g_steps) for r in range(g_repeats)}, known)

  @parameterized.parameters(
      # (schedule, G forward passes per stage with and without the known outputs):
      # d_steps for D's fakes, one per G update, and one per unknown G°(z).
      (dict(anchor='stage', g_repeats=2), 3, 5),  # exp1
      # exp2's shape, smaller (exp2 itself, d_steps=5 and g_steps=5: 23, 25).
      (dict(anchor='stage', d_steps=2, g_steps=2, g_repeats=2), 8, 10),
      (dict(anchor='previous', g_steps=2, g_repeats=2), 7, 9),
      (dict(anchor='previous'), 3, 3))
  def test_stage_equals_one_with_every_anchor_pass(self, kwargs, passes, unknown_passes):
    schedule = Schedule(reg_lambda=5.0, **kwargs)
    real = _real(schedule)

    def run(know):
      calls = []

      def counting(module, *args, **kw):
        calls.append(module is state.generator)
        return apply_model(module, *args, **kw)

      stage_fn = functools.partial(gan_stage, schedule=schedule)
      with mock.patch.object(stage_lib, 'apply_model', counting), \
           mock.patch.object(state_lib, 'apply_model', counting), \
           mock.patch.object(Schedule, 'known_anchor_output',
                             Schedule.known_anchor_output if know
                             else lambda self, step, repeat: None):
        out = stage_fn(state, real)  # eager: each call counts its passes
      return out, sum(calls)

    state = _state()
    for _ in range(2):  # G moves in the first stage, so the second has G° ≠ G.
      (known, known_m), known_passes = run(know=True)
      (every, every_m), every_passes = run(know=False)
      self.assertEqual((known_passes, every_passes), (passes, unknown_passes))
      chex.assert_trees_all_close(known, every, rtol=1e-5, atol=1e-6)
      chex.assert_trees_all_close(known_m, every_m, rtol=1e-5, atol=1e-6)
      state = known
    self.assertGreater(float(known_m['g_drift']), 0.0)


class GeneratorAverageTest(absltest.TestCase):
  """G's moving average: a ← d·a + (1 − d)·G after each stage, training unchanged."""

  def test_average_moves_towards_g_and_leaves_training_alone(self):
    schedule, decay = Schedule(reg_lambda=1.0), 0.75
    start = _state(g_average=True)
    chex.assert_trees_all_equal(start.g_average, {
        'params': start.g_params, 'batch_stats': start.g_batch_stats})
    plain, _ = gan_stage(_state(), _real(schedule), schedule)
    kept, _ = averaging(gan_stage, decay)(start, _real(schedule), schedule)
    chex.assert_trees_all_equal(kept.g_params, plain.g_params)
    chex.assert_trees_all_equal(kept.d_params, plain.d_params)
    self.assertNotEmpty(jax.tree.leaves(kept.g_batch_stats))  # BatchNorm averaged too
    expected = jax.tree.map(lambda a, g: decay * a + (1 - decay) * g,
                            start.g_average, {'params': plain.g_params,
                                              'batch_stats': plain.g_batch_stats})
    chex.assert_trees_all_close(kept.g_average, expected, rtol=1e-6, atol=1e-7)
    # The averaged view generates from the average and shares its buffers.
    view = averaged(kept)
    self.assertIs(view.g_params, kept.g_average['params'])
    z = jax.random.normal(jax.random.PRNGKey(3), (4, 2))
    self.assertFalse(np.allclose(view.generate(z), kept.generate(z)))

  def test_one_stage_function_per_decay(self):
    # A static argument of the jitted loops: a new object would re-compile them.
    self.assertIs(averaging(gan_stage, 0.9), averaging(gan_stage, 0.9))
    self.assertIsNot(averaging(gan_stage, 0.9), averaging(gan_stage, 0.99))

  def test_fused_loop_keeps_the_average(self):
    schedule = Schedule()
    state, _, bad = train_stages(
        _state(g_average=True), jnp.asarray(3), schedule=schedule,
        sample_real=toy2d.real_sampler('ring8'), batch_size=BATCH,
        stage_fn=averaging(gan_stage, 0.5))
    self.assertEqual((int(state.step), int(bad)), (3, 0))
    chex.assert_trees_all_equal_shapes(state.g_average['params'], state.g_params)
    chex.assert_tree_all_finite(state.g_average)


class StageTest(parameterized.TestCase):

  @parameterized.parameters('previous', 'stage')
  def test_shapes_finiteness_and_single_trace(self, anchor):
    schedule = Schedule(reg_lambda=1.0, anchor=anchor, d_steps=2, g_steps=2,
                        g_repeats=2)
    chex.clear_trace_counter()  # The counter is per code object, shared by params.

    @jax.jit
    @chex.assert_max_traces(n=1)
    def stage(state, real):
      return gan_stage(state, real, schedule)

    initial = state = _state()
    for i in range(3):
      state, metrics = stage(state, _real(schedule, seed=i))
    chex.assert_trees_all_equal_shapes_and_dtypes(initial, state)
    chex.assert_tree_all_finite((state, metrics))
    self.assertEqual(int(state.step), 3)
    for key in ('d_loss', 'd_real', 'd_fake', 'g_loss', 'g_drift', 'g_total',
                'd_grad_norm', 'g_grad_norm', 'd_update_norm', 'g_update_norm'):
      chex.assert_shape(metrics[key], ())

  def test_fused_stages_equal_single_stages(self):
    schedule = Schedule(reg_lambda=1.0, anchor='previous')
    sample_real = toy2d.real_sampler('ring8')
    fused, _, bad = train_stages(_state(), jnp.asarray(4), schedule=schedule,
                                 sample_real=sample_real, batch_size=BATCH)
    self.assertEqual(int(bad), 0)
    self.assertEqual(int(fused.step), 4)
    split = _state()
    for _ in range(2):
      split, _, _ = train_stages(split, jnp.asarray(2), schedule=schedule,
                                 sample_real=sample_real, batch_size=BATCH)
    chex.assert_trees_all_close(fused.g_params, split.g_params, rtol=1e-5,
                                atol=1e-6)

  def test_fused_loop_stops_at_first_non_finite_loss(self):
    schedule = Schedule()
    sample_real = toy2d.real_sampler('ring8')
    state = _state()
    state = state.replace(
        d_params=jax.tree.map(lambda p: jnp.full_like(p, jnp.nan), state.d_params),
        step=jnp.asarray(7, jnp.int32))

    state, _, bad = train_stages(state, jnp.asarray(5), schedule=schedule,
                                 sample_real=sample_real, batch_size=BATCH)
    self.assertEqual(int(bad), 8)  # The stage that started at step 7.
    self.assertEqual(int(state.step), 8)


if __name__ == '__main__':
  absltest.main()
