"""The VAE experiment loop end to end on mock MNIST, and its command line."""

import dataclasses
import os
import subprocess
import sys

from absl.testing import absltest
import numpy as np

from tests import shared_data
from vi_gen.training import vae_loop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = vae_loop.VAEConfig(hidden=16, latent_dim=4, batch_size=8, steps=4,
                          eval_every=2, checkpoint_every=2, eval_examples=12,
                          eval_batch=4, nll_samples=6, nll_chunk=3)



_records = shared_data.read_metrics


class VAELoopTest(absltest.TestCase):

  def test_writes_metrics_pictures_and_checkpoints(self):
    workdir = self.create_tempdir().full_path
    with shared_data.mock_tfds():
      final = vae_loop.train_and_evaluate(TINY, workdir)
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

  def test_resumed_run_equals_uninterrupted_run(self):
    straight, resumed = (self.create_tempdir().full_path for _ in range(2))
    with shared_data.mock_tfds():
      vae_loop.train_and_evaluate(TINY, straight)
      vae_loop.train_and_evaluate(dataclasses.replace(TINY, steps=2), resumed)
      vae_loop.train_and_evaluate(TINY, resumed)
    # The interrupted run also scored its last step (2) by NLL; otherwise equal.
    drop = lambda rs: [{k: v for k, v in r.items()
                        if k != 'steps_per_sec'
                        and not (r['step'] < TINY.steps and k.startswith('nll'))}
                       for r in rs]
    self.assertEqual(drop(_records(resumed)), drop(_records(straight)))
    self.assertIn('nll', _records(resumed)[0])

  def test_bad_config_is_an_error_before_training(self):
    with self.assertRaisesRegex(vae_loop.ConfigError, 'batch_size must be >= 1'):
      vae_loop.train_and_evaluate(dataclasses.replace(TINY, batch_size=0),
                                  self.create_tempdir().full_path)
    with self.assertRaisesRegex(vae_loop.ConfigError, 'likelihood'):
      vae_loop.train_and_evaluate(dataclasses.replace(TINY, likelihood='poisson'),
                                  self.create_tempdir().full_path)


class LearningRateScheduleTest(absltest.TestCase):

  def test_iwae_schedule_keeps_burda_stage_proportions(self):
    config = dataclasses.replace(TINY, lr_schedule='iwae', steps=3280)
    schedule = vae_loop.learning_rate_schedule(config)
    start = 0
    for i in range(8):  # stage i: 3**i steps of the 3280 at 1e-3 * 10**(-i/7)
      expected = 1e-3 * 10 ** (-i / 7)
      for step in (start, start + 3 ** i - 1):
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5,
                                   err_msg=f'stage {i}, step {step}')
      start += 3 ** i
    self.assertEqual(start, 3280)

  def test_constant_schedule(self):
    schedule = vae_loop.learning_rate_schedule(TINY)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 1, 10**6)],
                               [TINY.learning_rate] * 3, rtol=1e-7)

  def test_schedule_errors(self):
    with self.assertRaisesRegex(vae_loop.ConfigError, 'lr_schedule must be one of'):
      vae_loop.train_and_evaluate(dataclasses.replace(TINY, lr_schedule='cosine'),
                                  self.create_tempdir().full_path)
    # The iwae schedule is laid out over `steps`, so a resumed run keeps them.
    workdir = self.create_tempdir().full_path
    iwae = dataclasses.replace(TINY, lr_schedule='iwae', nll_samples=0)
    with shared_data.mock_tfds():
      vae_loop.train_and_evaluate(iwae, workdir)
    with self.assertRaisesRegex(vae_loop.ConfigError, 'steps=4'):
      vae_loop.train_and_evaluate(dataclasses.replace(iwae, steps=6), workdir)


class CommandLineTest(absltest.TestCase):

  def test_bad_flag_is_reported_in_one_line(self):
    workdir = self.create_tempdir().full_path
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.vae', '--steps=0', f'--workdir={workdir}'],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, JAX_PLATFORMS='cpu'))
    self.assertEqual(result.returncode, 2, result.stderr)
    self.assertIn('experiments.vae: error: steps must be >= 1', result.stderr)
    self.assertFalse(os.path.exists(os.path.join(workdir, 'metrics.jsonl')))


if __name__ == '__main__':
  absltest.main()
