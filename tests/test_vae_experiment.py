"""The VAE experiment loop end to end on mock MNIST, and its command line."""

import dataclasses
import json
import os

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import pytest

from tests import shared_data
from vi_gen.training import build
from vi_gen.training import config as config_lib
from vi_gen.training import vae
TINY = config_lib.VAEConfig(hidden=16, latent_dim=4, batch_size=8, steps=4,
                          eval_every=2, checkpoint_every=2, eval_examples=12,
                          eval_batch=4, nll_samples=6, nll_chunk=3)



_records = shared_data.read_metrics


class VAELoopTest(parameterized.TestCase):

  def test_writes_metrics_pictures_and_checkpoints(self):
    workdir = self.create_tempdir().full_path
    with shared_data.mock_tfds():
      final = vae.train_and_evaluate(TINY, workdir)
    records = _records(workdir)
    self.assertEqual([r['step'] for r in records], [2, 4])
    self.assertNotIn('nll', records[0])
    self.assertEqual(final, records[-1])
    for key in ('elbo', 'test_elbo', 'kl', 'reconstruction', 'nll'):
      self.assertTrue(np.isfinite(final[key]), key)
    self.assertLess(final['elbo'], 0)
    self.assertGreater(final['nll'], 0)
    for name in ('reconstructions_0000004.png', 'samples_0000004.png', 'config.json'):
      self.assertTrue(os.path.exists(os.path.join(workdir, name)), name)
    self.assertTrue(os.path.isdir(os.path.join(workdir, 'checkpoints', '4')))

  @parameterized.parameters('adam', 'iwae_adam')
  def test_resumed_run_equals_uninterrupted_run(self, optimizer):
    # The checkpoint carries either optimiser's state.
    config = dataclasses.replace(TINY, optimizer=optimizer)
    straight, resumed = (self.create_tempdir().full_path for _ in range(2))
    with shared_data.mock_tfds():
      vae.train_and_evaluate(config, straight)
      vae.train_and_evaluate(dataclasses.replace(config, steps=2), resumed)
      vae.train_and_evaluate(config, resumed)
    # The interrupted run also scored its last step (2) by NLL; otherwise equal.
    drop = lambda rs: [{k: v for k, v in shared_data.without_timings(r).items()
                        if not (r['step'] < TINY.steps and k.startswith('nll'))}
                       for r in rs]
    self.assertEqual(drop(_records(resumed)), drop(_records(straight)))
    self.assertIn('nll', _records(resumed)[0])

  def test_fused_steps_train_as_single_steps_do(self):
    # Two steps per call, resumed from a run of one step per call: the same records.
    single, fused = (self.create_tempdir().full_path for _ in range(2))
    with shared_data.mock_tfds():
      vae.train_and_evaluate(TINY, single)
      vae.train_and_evaluate(dataclasses.replace(TINY, steps=2, nll_samples=0),
                                  fused)
      vae.train_and_evaluate(dataclasses.replace(TINY, steps_per_call=2), fused)
    single, fused = (_records(w) for w in (single, fused))
    self.assertEqual([r['step'] for r in fused], [2, 4])
    for a, b in zip(single, fused):
      for key in ('elbo', 'test_elbo', 'kl', 'nll'):
        if key in a:
          np.testing.assert_allclose(b[key], a[key], rtol=1e-4, err_msg=key)

  def test_bad_config_is_an_error_before_training(self):
    with self.assertRaisesRegex(config_lib.ConfigError, 'batch_size must be >= 1'):
      vae.train_and_evaluate(dataclasses.replace(TINY, batch_size=0),
                                  self.create_tempdir().full_path)
    with self.assertRaisesRegex(config_lib.ConfigError, 'likelihood'):
      vae.train_and_evaluate(dataclasses.replace(TINY, likelihood='poisson'),
                                  self.create_tempdir().full_path)
    with self.assertRaisesRegex(config_lib.ConfigError,
                                'eval_every=2 is not a multiple of steps_per_call=4'):
      vae.train_and_evaluate(dataclasses.replace(TINY, steps_per_call=4),
                                  self.create_tempdir().full_path)


class LearningRateScheduleTest(absltest.TestCase):

  def test_iwae_schedule_keeps_burda_stage_proportions(self):
    config = dataclasses.replace(TINY, lr_schedule='iwae', steps=3280)
    schedule = build.vae_learning_rate(config)
    start = 0
    for i in range(8):  # stage i: 3**i steps of the 3280 at 1e-3 * 10**(-i/7)
      expected = 1e-3 * 10 ** (-i / 7)
      for step in (start, start + 3 ** i - 1):
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5,
                                   err_msg=f'stage {i}, step {step}')
      start += 3 ** i
    self.assertEqual(start, 3280)

  def test_constant_schedule(self):
    schedule = build.vae_learning_rate(TINY)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 1, 10**6)],
                               [TINY.learning_rate] * 3, rtol=1e-7)

  def test_schedule_errors(self):
    with self.assertRaisesRegex(config_lib.ConfigError, 'lr_schedule must be one of'):
      vae.train_and_evaluate(dataclasses.replace(TINY, lr_schedule='cosine'),
                                  self.create_tempdir().full_path)
    # The iwae schedule is laid out over `steps`, so a resumed run keeps them.
    workdir = self.create_tempdir().full_path
    iwae = dataclasses.replace(TINY, lr_schedule='iwae', nll_samples=0)
    # Mock data throughout: without it, on a machine where MNIST is neither
    # prepared nor reachable, the data check would speak before the resume check.
    with shared_data.mock_tfds():
      vae.train_and_evaluate(iwae, workdir)
      with self.assertRaisesRegex(config_lib.ConfigError, 'steps=4'):
        vae.train_and_evaluate(dataclasses.replace(iwae, steps=6), workdir)
      # Nor may it change optimiser.
      with self.assertRaisesRegex(config_lib.ConfigError, "optimizer='adam'"):
        vae.train_and_evaluate(
            dataclasses.replace(iwae, optimizer='iwae_adam'), workdir)
    with self.assertRaisesRegex(config_lib.ConfigError, 'optimizer must be one of'):
      vae.train_and_evaluate(dataclasses.replace(TINY, optimizer='sgd'),
                                  self.create_tempdir().full_path)


@pytest.mark.integration
class CommandLineTest(absltest.TestCase):

  def _run(self, module, *args):
    return shared_data.run_python('-m', module, *args)

  def test_bad_flag_is_reported_in_one_line(self):
    workdir = self.create_tempdir().full_path
    result = self._run('experiments.vae', '--steps=0', f'--workdir={workdir}')
    self.assertEqual(result.returncode, 2, result.stderr)
    self.assertIn('experiments.vae: error: steps must be >= 1', result.stderr)
    self.assertFalse(os.path.exists(os.path.join(workdir, 'metrics.jsonl')))

  def test_nll_benchmark_keeps_other_budgets_apart(self):
    # Another budget is its own run and result file: it must neither try to resume
    # the default run (whose step count and batch differ) nor overwrite its results.
    shared_data.skip_without_mnist_files(self)
    workdir, out_dir = (self.create_tempdir().full_path for _ in range(2))
    result = self._run('benchmarks.vae_nll', '--epochs=1', '--config.batch_size=6000',
                       '--config.nll_samples=2', '--evaluations=1',
                       '--config.steps_per_call=5', '--config.optimizer=iwae_adam',
                       f'--manual_dir={shared_data.MANUAL_DIR}',
                       f'--workdir={workdir}', f'--out_dir={out_dir}')
    self.assertEqual(result.returncode, 0, result.stderr)
    name = 'epochs1_batch6000_iwae_adam'
    self.assertEqual(os.listdir(workdir), [f'{name}_seed0'])
    with open(os.path.join(workdir, f'{name}_seed0', 'config.json')) as f:
      config = json.load(f)
    self.assertEqual((config['batch_size'], config['steps'], config['nll_samples'],
                      config['steps_per_call'], config['optimizer']),
                     (6000, 10, 2, 5, 'iwae_adam'))
    with open(os.path.join(out_dir, f'vae_nll_{name}.json')) as f:
      results = json.load(f)
    self.assertEqual((results['batch_size'], results['optimizer']),
                     (6000, 'iwae_adam'))
    self.assertTrue(np.isfinite(results['runs'][0]['nll']))


if __name__ == '__main__':
  absltest.main()
