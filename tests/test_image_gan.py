"""Image GANs end to end on mock TFDS data: both schedules, outputs, resume, flags."""

import dataclasses
import glob
import os

from absl.testing import absltest
from absl.testing import flagsaver
from absl.testing import parameterized
import jax
import numpy as np

from experiments import gan as gan_cli
from tests import shared_data
from vi_gen import parallel
from vi_gen.training import gan_loop


def _tiny(dataset, preset, **overrides):
  # Tiny DCGANs and a handful of samples: plumbing, not quality.
  config = gan_loop.default_config(dataset, preset)
  tiny = dict(width=4, batch_size=8, latent_dim=8, steps=2, eval_every=1,
              checkpoint_every=1, eval_samples=48)
  return dataclasses.replace(config, **{**tiny, **overrides})



_records = shared_data.read_metrics


class ImageGANTest(parameterized.TestCase):

  @parameterized.parameters(('mnist', 'exp1'), ('mnist', 'exp2'),
                            ('stacked_mnist', 'exp1'), ('stacked_mnist', 'exp2'))
  def test_two_stages_write_every_output(self, dataset, preset):
    workdir = self.create_tempdir().full_path
    with shared_data.mock_tfds():
      final = gan_loop.train_and_evaluate(_tiny(dataset, preset), workdir)
    records = _records(workdir)
    self.assertEqual([r['step'] for r in records], [1, 2])
    keys = {'fd', 'fd_floor', 'd_loss', 'g_loss', 'g_drift', 'stages_per_sec'}
    if dataset == 'stacked_mnist':
      keys |= {'stacked_modes', 'stacked_kl'}
    self.assertContainsSubset(keys, records[-1])
    self.assertEqual(final, records[-1])
    for record in records:
      self.assertTrue(all(np.isfinite(v) for v in record.values()))
      self.assertGreater(record['fd'], 0)
    self.assertTrue(os.path.exists(os.path.join(workdir, 'samples_0000002.png')))
    self.assertNotEmpty(glob.glob(os.path.join(workdir, 'events.out.tfevents.*')))
    self.assertEqual(sorted(os.listdir(os.path.join(workdir, 'checkpoints'))),
                     ['1', '2'])

  def test_datasets_without_a_classifier_metric_write_grids(self):
    workdir = self.create_tempdir().full_path
    with shared_data.mock_tfds():
      final = gan_loop.train_and_evaluate(_tiny('cifar10', 'exp1', steps=1, eval_samples=0), workdir)
    self.assertNotIn('fd', final)
    self.assertTrue(os.path.exists(os.path.join(workdir, 'samples_0000001.png')))

  def test_resumed_run_equals_uninterrupted_run(self):
    config = _tiny('mnist', 'exp1')
    straight, resumed = (self.create_tempdir().full_path for _ in range(2))
    with shared_data.mock_tfds():
      gan_loop.train_and_evaluate(config, straight)
      gan_loop.train_and_evaluate(dataclasses.replace(config, steps=1), resumed)
      gan_loop.train_and_evaluate(config, resumed)
    drop = ('stages_per_sec', 'eval_seconds')
    clean = lambda rs: [{k: v for k, v in r.items() if k not in drop} for r in rs]
    self.assertEqual(clean(_records(resumed)), clean(_records(straight)))


class TransferGuardTest(parameterized.TestCase):
  """Training intervals move data between host and device only explicitly."""

  @parameterized.parameters('ring8', 'mnist')
  def test_no_implicit_transfers_in_the_training_loop(self, dataset):
    mesh = parallel.make_mesh()
    if dataset == 'ring8':
      config = dataclasses.replace(gan_loop.default_config(), g_hidden=8,
                                   g_depth=1, d_hidden=4, d_depth=1, d_pieces=2,
                                   batch_size=8, eval_samples=10)
      task = gan_loop._Toy2DTask(config, jax.random.PRNGKey(0), mesh)
    else:
      config = _tiny('mnist', 'exp2', eval_samples=0)
      task = gan_loop._ImageTask(config, jax.random.PRNGKey(0), mesh, None, None)
    state = parallel.replicate(gan_loop.create_state(config), mesh)
    with shared_data.mock_tfds(), jax.set_mesh(mesh):
      task.start(state)
      state, _ = task.advance(state, 1)  # compile outside the guard
      with jax.transfer_guard('disallow'):
        state, result = task.advance(state, 2)
    self.assertEqual(result['step'], 3)
    self.assertEqual(result['bad_step'], 0)


class PresetTest(parameterized.TestCase):

  @parameterized.parameters(
      ('exp1', dict(anchor='stage', d_steps=1, g_steps=1, g_repeats=2,
                    batch_norm=True)),
      ('exp2', dict(anchor='stage', d_steps=5, g_steps=5, g_repeats=2,
                    batch_norm=False)))
  def test_schedule_flag_sets_the_paper_schedule(self, preset, expected):
    with flagsaver.flagsaver(dataset='mnist', schedule=preset, reg_lambda=0.0):
      config = gan_cli.config_from_flags()
    self.assertEqual({k: getattr(config, k) for k in expected}, expected)
    self.assertEqual(config.reg_lambda, 0.0)  # the control
    self.assertIsNone(config.schedule.inert_reason())
    # The paper's code for everything else.
    self.assertEqual((config.batch_size, config.latent_dim, config.g_lr,
                      config.beta1), (64, 100, 2e-4, 0.5))

  def test_explicit_flags_override_the_preset(self):
    with flagsaver.flagsaver(dataset='mnist', schedule='exp2', batch_norm=True,
                             d_steps=3):
      config = gan_cli.config_from_flags()
    self.assertEqual((config.batch_norm, config.d_steps, config.g_steps),
                     (True, 3, 5))

  def test_image_datasets_default_to_exp1_and_lambda_5(self):
    with flagsaver.flagsaver(dataset='stacked_mnist'):
      config = gan_cli.config_from_flags()
    self.assertEqual((config.preset, config.reg_lambda, config.eval_samples),
                     ('exp1', 5.0, 26_000))


if __name__ == '__main__':
  absltest.main()
