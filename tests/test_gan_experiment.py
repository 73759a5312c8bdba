"""The GAN experiment end to end: outputs, resume, and every bad-input error."""

import dataclasses
import json
import os

from absl.testing import absltest
from absl.testing import parameterized
import chex
import flax
import jax
import numpy as np
import pytest

from tests import shared_data
from vi_gen import checkpoint
from vi_gen.training import adversarial
from vi_gen.training import build
from vi_gen.training import config as config_lib
from vi_gen.training import loop
import configs
from vi_gen.training.state import GANState

# Tiny networks: these tests check plumbing, not GAN quality.
TINY = config_lib.GANConfig(
    g_hidden=16, g_depth=2, d_hidden=8, d_depth=2, d_pieces=2, batch_size=16,
    steps=4, eval_every=2, checkpoint_every=2, eval_samples=200, reg_lambda=1.0)
TINY_FLAGS = ['--g_hidden=16', '--g_depth=2', '--d_hidden=8', '--d_depth=2',
              '--d_pieces=2', '--batch_size=16', '--eval_samples=200']


_records = shared_data.read_metrics


_comparable = shared_data.without_timings


class TrainAndEvaluateTest(absltest.TestCase):

  def test_writes_metrics_pictures_and_checkpoints(self):
    workdir = self.create_tempdir().full_path
    final = adversarial.train_and_evaluate(TINY, workdir)
    records = _records(workdir)
    self.assertEqual([r['step'] for r in records], [2, 4])
    for key in ('modes', 'hq', 'reverse_kl', 'd_loss', 'g_loss', 'g_drift'):
      self.assertIn(key, records[-1])
    self.assertEqual(final, records[-1])
    self.assertTrue(os.path.exists(os.path.join(workdir, 'samples_0000002.png')))
    self.assertTrue(os.path.exists(os.path.join(workdir, 'samples_0000004.png')))
    self.assertEqual(sorted(os.listdir(os.path.join(workdir, 'checkpoints'))),
                     ['2', '4'])

  def test_resumed_run_equals_uninterrupted_run(self):
    straight = self.create_tempdir().full_path
    adversarial.train_and_evaluate(TINY, straight)
    resumed = self.create_tempdir().full_path
    adversarial.train_and_evaluate(dataclasses.replace(TINY, steps=2), resumed)
    adversarial.train_and_evaluate(TINY, resumed)
    self.assertEqual([_comparable(r) for r in _records(resumed)],
                     [_comparable(r) for r in _records(straight)])
    # And the states themselves.
    states = []
    for workdir in (straight, resumed):
      ckpt = checkpoint.Checkpointer(workdir)
      states.append(flax.serialization.to_state_dict(
          ckpt.restore(build.create_state(TINY))))
      ckpt.close()
    chex.assert_trees_all_equal(states[0], states[1])

  def test_rerun_of_finished_run_trains_nothing(self):
    workdir = self.create_tempdir().full_path
    first = adversarial.train_and_evaluate(TINY, workdir)
    again = adversarial.train_and_evaluate(TINY, workdir)
    self.assertEqual(again, first)
    self.assertLen(_records(workdir), 2)

  def test_non_finite_loss_keeps_last_good_checkpoint(self):
    # Adam's first step moves every G weight by ~lr: stage 1 is finite, then G(z) overflows.
    config = dataclasses.replace(TINY, g_lr=1e30, steps=6,
                                 checkpoint_every=1, eval_every=1)
    workdir = self.create_tempdir().full_path
    with self.assertRaisesRegex(loop.NonFiniteLossError,
                                r'non-finite loss at stage (\d+)'):
      adversarial.train_and_evaluate(config, workdir)
    ckpt = checkpoint.Checkpointer(workdir)
    last = ckpt.latest_step()
    self.assertIsNotNone(last)
    state = ckpt.restore(build.create_state(config))
    ckpt.close()
    self.assertIsInstance(state, GANState)
    self.assertEqual(int(state.step), last)
    chex.assert_tree_all_finite(state.g_params)
    chex.assert_tree_all_finite(state.d_params)


class LearningRateDecayTest(parameterized.TestCase):

  def test_constant(self):
    self.assertEqual(build.learning_rates(TINY), (TINY.g_lr, TINY.d_lr))

  @parameterized.named_parameters(
      # (model, preset): G (or E/G) and D updates per stage.
      ('gan', 'gan', 'custom', 1, 1),
      ('gan_exp2', 'gan', 'exp2', 10, 5),
      ('ali', 'ali', 'custom', 1, 1),
  )
  def test_cosine_spans_every_update_of_the_run(self, model, preset, g_per, d_per):
    config = dataclasses.replace(
        configs.recipe('ring8', preset, model), steps=300,
        g_lr=3e-4, d_lr=1e-3, d_steps=d_per, lr_decay='cosine')
    g_schedule, d_schedule = build.learning_rates(config)
    for schedule, lr, updates in ((g_schedule, 3e-4, 300 * g_per),
                                  (d_schedule, 1e-3, 300 * d_per)):
      np.testing.assert_allclose(
          [float(schedule(n)) for n in (0, updates // 2, updates)],
          [lr, lr / 2, 0.0], rtol=1e-6, atol=1e-12)

  @parameterized.named_parameters(('gan', 'custom', 1, 1), ('exp2', 'exp2', 10, 5))
  def test_cosine_tail_decays_only_the_last_stages(self, preset, g_per, d_per):
    config = dataclasses.replace(
        configs.recipe('ring8', preset), steps=300, g_lr=3e-4,
        d_lr=1e-3, lr_decay='cosine', lr_decay_stages=100)
    for schedule, lr, per in zip(build.learning_rates(config), (3e-4, 1e-3),
                                 (g_per, d_per)):
      # Constant through stage 200's updates, then a half cosine over 100 stages.
      np.testing.assert_allclose(
          [float(schedule(n * per)) for n in (0, 199, 200, 250, 300)],
          [lr, lr, lr, lr / 2, 0.0], rtol=1e-6, atol=1e-12)
      self.assertLess(float(schedule(200 * per + 1)), lr)

  def test_cosine_tail_follows_the_constant_run_until_it_starts(self):
    constant = dataclasses.replace(TINY, steps=2)
    tail = dataclasses.replace(TINY, lr_decay='cosine', lr_decay_stages=2)
    runs = []
    for config in (constant, tail):
      workdir = self.create_tempdir().full_path
      adversarial.train_and_evaluate(config, workdir)
      runs.append([_comparable(r) for r in _records(workdir)])
    self.assertEqual(runs[1][0], runs[0][0])  # Stage 2: equal states.
    self.assertEqual(runs[1][1]['step'], 4)
    self.assertNotEqual(runs[1][1], runs[0][0])

  @parameterized.named_parameters(
      ('without_decay', dict(lr_decay_stages=2), 'needs a decay'),
      ('longer_than_run', dict(lr_decay='cosine', lr_decay_stages=5), r'\[0, steps=4\]'),
      ('negative', dict(lr_decay='cosine', lr_decay_stages=-1), r'\[0, steps=4\]'),
  )
  def test_bad_cosine_tail(self, fields, message):
    with self.assertRaisesRegex(config_lib.ConfigError, message):
      adversarial.train_and_evaluate(dataclasses.replace(TINY, **fields),
                                  self.create_tempdir().full_path)

  def test_cosine_run_ends_at_zero_and_keeps_its_steps(self):
    config = dataclasses.replace(TINY, lr_decay='cosine')
    workdir = self.create_tempdir().full_path
    adversarial.train_and_evaluate(config, workdir)
    ckpt = checkpoint.Checkpointer(workdir)
    state = ckpt.restore(build.create_state(config))
    ckpt.close()
    g_schedule, _ = build.learning_rates(config)
    counts = [int(c) for c in jax.tree.leaves(state.g_opt_state)
              if np.ndim(c) == 0 and np.issubdtype(np.asarray(c).dtype, np.integer)]
    self.assertNotEmpty(counts)
    self.assertEqual(set(counts), {config.steps})  # One G update per stage.
    self.assertEqual(float(g_schedule(config.steps)), 0.0)
    # The decay is laid over `steps`: a resumed run may not change them.
    with self.assertRaisesRegex(config_lib.ConfigError, 'steps=4'):
      adversarial.train_and_evaluate(dataclasses.replace(config, steps=8), workdir)
    with self.assertRaisesRegex(config_lib.ConfigError, 'unknown lr_decay'):
      adversarial.train_and_evaluate(dataclasses.replace(TINY, lr_decay='linear'),
                                  self.create_tempdir().full_path)


def _run_cli(*flags, env=None):
  return shared_data.run_python('-m', 'experiments.gan', *flags, env=env)


@pytest.mark.integration
class CommandLineTest(parameterized.TestCase):

  def test_runs_and_reports(self):
    workdir = self.create_tempdir().full_path
    result = _run_cli(*TINY_FLAGS, '--steps=2', '--eval_every=1',
                      f'--workdir={workdir}')
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertIn('final (stage 2)', result.stdout)
    self.assertIn('stage 1/2', result.stderr)  # Progress while training.
    self.assertLen(_records(workdir), 2)

  def test_a_recipe_file_and_its_field_overrides(self):
    # --config picks a recipe of configs/; --config.FIELD and the shorthand
    # --FIELD both set a field; the run records what it trained.
    workdir = self.create_tempdir().full_path
    result = _run_cli('--config=configs/gan_grid25.py', '--config.steps=1',
                      '--reg_lambda=0', '--nobatch_norm', *TINY_FLAGS,
                      f'--workdir={workdir}')
    self.assertEqual(result.returncode, 0, result.stderr)
    with open(os.path.join(workdir, 'config.json')) as f:
      recorded = json.load(f)
    self.assertEqual(
        {k: recorded[k] for k in ('dataset', 'anchor', 'g_repeats', 'steps',
                                  'reg_lambda', 'batch_norm', 'g_hidden')},
        {'dataset': 'grid25', 'anchor': 'stage', 'g_repeats': 2, 'steps': 1,
         'reg_lambda': 0.0, 'batch_norm': False, 'g_hidden': 16})

  def test_an_unknown_field_is_refused(self):
    result = _run_cli('--config.no_such_field=1')
    self.assertNotEqual(result.returncode, 0)
    self.assertIn('no_such_field', result.stderr)

  def test_warns_when_the_term_is_inert(self):
    workdir = self.create_tempdir().full_path
    result = _run_cli(*TINY_FLAGS, '--steps=1', '--anchor=stage',
                      '--reg_lambda=5', f'--workdir={workdir}')
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertIn('the regulariser is inert', result.stderr)

  @parameterized.named_parameters(
      ('unknown_dataset', ['--dataset=moons'], 'unknown dataset'),
      ('unknown_anchor', ['--anchor=lagged'], 'unknown anchor policy'),
      ('negative_lambda', ['--reg_lambda=-1'], 'reg_lambda must be >= 0'),
      ('zero_steps', ['--steps=0'], 'steps must be >= 1'),
      ('negative_steps', ['--steps=-5'], 'steps must be >= 1'),
      ('zero_batch', ['--batch_size=0'], 'batch_size must be >= 1'),
      ('zero_g_repeats', ['--g_repeats=0'], 'g_repeats must be >= 1'),
      ('unknown_lr_decay', ['--lr_decay=linear'], 'lr_decay'),
  )
  def test_bad_flag(self, flags, message):
    workdir = self.create_tempdir().full_path
    result = _run_cli(*flags, f'--workdir={workdir}')
    self.assertEqual(result.returncode, 2)
    self.assertIn(message, result.stderr)
    error_lines = [l for l in result.stderr.splitlines() if 'error:' in l]
    self.assertLen(error_lines, 1)
    # Rejected before any computation: nothing was trained or written.
    self.assertFalse(os.path.exists(os.path.join(workdir, 'metrics.jsonl')))

  def test_unwritable_workdir(self):
    blocker = self.create_tempfile('a_file').full_path
    result = _run_cli(f'--workdir={blocker}/run')
    self.assertEqual(result.returncode, 2)
    self.assertIn('is not writable', result.stderr)

  def test_incompatible_checkpoint(self):
    workdir = self.create_tempdir().full_path
    first = _run_cli(*TINY_FLAGS, '--steps=1', f'--workdir={workdir}')
    self.assertEqual(first.returncode, 0, first.stderr)
    result = _run_cli(*TINY_FLAGS, '--steps=2', '--reg_lambda=3',
                      f'--workdir={workdir}')
    self.assertEqual(result.returncode, 2)
    self.assertIn('made by a different configuration', result.stderr)
    self.assertIn('reg_lambda=100.0 (now 3.0)', result.stderr)

  def test_non_finite_loss_exit(self):
    workdir = self.create_tempdir().full_path
    result = _run_cli(*TINY_FLAGS, '--steps=6', '--g_lr=1e30',
                      '--checkpoint_every=1', '--eval_every=1',
                      f'--workdir={workdir}')
    self.assertEqual(result.returncode, 1)
    self.assertRegex(result.stderr, r'non-finite loss at stage \d+')
    self.assertIn('is intact', result.stderr)
    records = _records(workdir)
    self.assertTrue(np.isfinite(records[-1]['d_loss']))


if __name__ == '__main__':
  absltest.main()
