"""Image GANs end to end on mock TFDS data: both schedules, outputs, resume, flags."""

import dataclasses
import glob
import os

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np
import pytest

from tests import shared_data
from vi_gen import parallel
from vi_gen.training import adversarial
from vi_gen.training import build
from vi_gen.training import config as config_lib
from vi_gen.training import validation
import configs


def _tiny(dataset, preset, **overrides):
  # Tiny DCGANs and a handful of samples: plumbing, not quality.
  config = configs.recipe(dataset, preset)
  tiny = dict(width=4, batch_size=8, latent_dim=8, steps=2, eval_every=1,
              checkpoint_every=1, eval_samples=48)
  return dataclasses.replace(config, **{**tiny, **overrides})


_records = shared_data.read_metrics


def _check_two_stages(test, dataset, preset):
  """Two stages on mock data write every metric, picture, log and checkpoint."""
  workdir = test.create_tempdir().full_path
  with shared_data.mock_tfds():
    final = adversarial.train_and_evaluate(_tiny(dataset, preset), workdir)
  records = _records(workdir)
  test.assertEqual([r['step'] for r in records], [1, 2])
  keys = {'fd', 'fd_floor', 'd_loss', 'g_loss', 'g_drift', 'stages_per_sec'}
  keys |= ({'stacked_modes', 'stacked_kl'} if dataset == 'stacked_mnist'
           else {'digit_modes', 'digit_kl'})
  test.assertContainsSubset(keys, records[-1])
  test.assertEqual(final, records[-1])
  for record in records:
    test.assertTrue(all(np.isfinite(v) for v in record.values()))
    test.assertGreater(record['fd'], 0)
  test.assertTrue(os.path.exists(os.path.join(workdir, 'samples_0000002.png')))
  test.assertNotEmpty(glob.glob(os.path.join(workdir, 'events.out.tfevents.*')))
  test.assertEqual(sorted(os.listdir(os.path.join(workdir, 'checkpoints'))),
                   ['1', '2'])


class ImageGANTest(parameterized.TestCase):

  @parameterized.parameters(('mnist', 'exp1'), ('mnist', 'exp2'),
                            ('stacked_mnist', 'exp1'))
  def test_two_stages_write_every_output(self, dataset, preset):
    _check_two_stages(self, dataset, preset)

  def test_datasets_without_a_classifier_metric_write_grids(self):
    workdir = self.create_tempdir().full_path
    with shared_data.mock_tfds():
      final = adversarial.train_and_evaluate(_tiny('cifar10', 'exp1', steps=1, eval_samples=0), workdir)
    self.assertNotIn('fd', final)
    self.assertTrue(os.path.exists(os.path.join(workdir, 'samples_0000001.png')))

  def test_resumed_run_equals_uninterrupted_run(self):
    config = _tiny('mnist', 'exp1')
    straight, resumed = (self.create_tempdir().full_path for _ in range(2))
    with shared_data.mock_tfds():
      adversarial.train_and_evaluate(config, straight)
      adversarial.train_and_evaluate(dataclasses.replace(config, steps=1), resumed)
      adversarial.train_and_evaluate(config, resumed)
    drop = ('stages_per_sec', 'eval_seconds')
    clean = lambda rs: [{k: v for k, v in r.items() if k not in drop} for r in rs]
    self.assertEqual(clean(_records(resumed)), clean(_records(straight)))


@pytest.mark.integration
class StackedExp2Test(absltest.TestCase):
  """Stacked MNIST under exp2: its schedule takes about 30 s to compile."""

  def test_two_stages_write_every_output(self):
    _check_two_stages(self, 'stacked_mnist', 'exp2')


class TransferGuardTest(parameterized.TestCase):
  """Training intervals move data between host and device only explicitly."""

  @parameterized.parameters('ring8', 'mnist')
  def test_no_implicit_transfers_in_the_training_loop(self, dataset):
    mesh = parallel.make_mesh()
    if dataset == 'ring8':
      config = dataclasses.replace(configs.recipe(), g_hidden=8,
                                   g_depth=1, d_hidden=4, d_depth=1, d_pieces=2,
                                   batch_size=8, eval_samples=10)
      task = adversarial.Toy2DTask(config, jax.random.PRNGKey(0), mesh)
    else:
      config = _tiny('mnist', 'exp2', eval_samples=0)
      task = adversarial.ImageTask(config, jax.random.PRNGKey(0), mesh, None, None)
    state = parallel.replicate(build.create_state(config), mesh)
    with shared_data.mock_tfds(), jax.set_mesh(mesh):
      task.start(state)
      state, _ = task.advance(state, 1)  # compile outside the guard
      with jax.transfer_guard('disallow'):
        state, result = task.advance(state, 2)
    self.assertEqual(result['step'], 3)
    self.assertEqual(result['bad_step'], 0)


class RecipeTest(parameterized.TestCase):

  @parameterized.parameters(
      ('gan_mnist_exp1', dict(anchor='stage', d_steps=1, g_steps=1, g_repeats=2,
                              batch_norm=True)),
      ('gan_stacked_mnist_exp2', dict(anchor='stage', d_steps=5, g_steps=5,
                                      g_repeats=2, batch_norm=False)))
  def test_image_recipes_use_the_paper_schedule_and_code(self, name, expected):
    config = configs.load(name, reg_lambda=0.0)
    self.assertEqual({k: getattr(config, k) for k in expected}, expected)
    self.assertEqual(config.reg_lambda, 0.0)  # the control
    self.assertIsNone(build.schedule(config).inert_reason())
    # The paper's code for everything else.
    self.assertEqual((config.batch_size, config.latent_dim, config.g_lr,
                      config.beta1, config.width), (64, 100, 2e-4, 0.5, 64))

  def test_changing_a_preset_schedule_needs_preset_custom(self):
    config = dataclasses.replace(_tiny('mnist', 'exp2'), batch_norm=True,
                                 d_steps=3)
    with self.assertRaisesRegex(config_lib.ConfigError,
                                'preset=exp2 sets .* set preset=custom'):
      adversarial.train_and_evaluate(config, self.create_tempdir().full_path)
    custom = dataclasses.replace(config, preset='custom')
    validation.validate_gan(custom)
    self.assertEqual((custom.batch_norm, custom.d_steps, custom.g_steps),
                     (True, 3, 5))

  def test_image_recipes_default_to_exp1_and_lambda_5(self):
    config = configs.recipe('stacked_mnist')
    self.assertEqual((config.preset, config.reg_lambda, config.eval_samples),
                     ('exp1', 5.0, 26_000))


if __name__ == '__main__':
  absltest.main()
