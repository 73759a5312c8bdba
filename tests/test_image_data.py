"""TFDS image pipelines on mock data, and real MNIST from the manual files."""

import fcntl
import os
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tests import shared_data
from vi_gen.data import images


class PipelineTest(parameterized.TestCase):

  @parameterized.parameters(*sorted(images.DATASETS))
  def test_batches_on_mock_data(self, name):
    info = images.DATASETS[name]
    with shared_data.mock_tfds(40):
      batch = next(images.train_batches(name, batch_size=4, d_steps=3, seed=0))
    image = batch['image']
    self.assertEqual(image.shape, (3, 4, *info.shape))
    self.assertEqual(image.dtype, np.float32)
    self.assertGreaterEqual(image.min(), -1.0)
    self.assertLessEqual(image.max(), 1.0)
    self.assertGreater(image.std(), 0.1)  # real pixel data, not a constant
    label_shape = (3, 4, 3) if name == 'stacked_mnist' else (3, 4)
    self.assertEqual(batch['label'].shape, label_shape)

  def test_celeb_a_crop_is_the_central_108_resized_to_64(self):
    # A 218×178 image whose central 108×108 is white and the rest black.
    image = np.zeros((218, 178, 3), np.uint8)
    top, left = (218 - 108) // 2, (178 - 108) // 2
    image[top:top + 108, left:left + 108] = 255
    cropped = images.celeb_a_crop(tf.constant(image)).numpy()
    self.assertEqual(cropped.shape, (64, 64, 3))
    np.testing.assert_allclose(cropped, 1.0, atol=1e-5)

  def test_stacked_mnist_channels_are_independent_digits(self):
    with shared_data.mock_tfds(200):
      batch = next(images.train_batches('stacked_mnist', batch_size=64, d_steps=1,
                                        seed=0))
    labels = batch['label'][0]
    self.assertFalse(np.all(labels[:, 0] == labels[:, 1]))
    self.assertFalse(np.all(labels[:, 1] == labels[:, 2]))
    image = batch['image'][0]
    self.assertFalse(np.array_equal(image[..., 0], image[..., 1]))

  def test_stack_digits_keeps_the_label_of_each_channel(self):
    digits = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones(
        (1, 28, 28, 1), np.uint8)
    stacked, labels = images.stack_digits(digits, np.arange(10), 50,
                                          np.random.default_rng(0))
    self.assertEqual(stacked.shape, (50, 28, 28, 3))
    np.testing.assert_array_equal(stacked[:, 0, 0, :], labels)

  def test_skip_stages_resumes_the_same_stream(self):
    with shared_data.mock_tfds(40):
      straight = images.train_batches('mnist', batch_size=4, d_steps=2, seed=3)
      for _ in range(5):
        expected = next(straight)
      resumed = next(images.train_batches('mnist', batch_size=4, d_steps=2,
                                          seed=3, skip_stages=4))
    np.testing.assert_array_equal(resumed['image'], expected['image'])

  def test_manual_dir_comes_from_the_environment(self):
    with absltest.mock.patch.dict(os.environ, {images.MANUAL_DIR_ENV: '/x/y'}):
      config = images.tfds_kwargs()['download_and_prepare_kwargs']['download_config']
    self.assertEqual(config.manual_dir, '/x/y')
    with absltest.mock.patch.dict(os.environ, {images.MANUAL_DIR_ENV: ''}):
      self.assertNotIn('download_and_prepare_kwargs', images.tfds_kwargs())
      config = images.tfds_kwargs(manual_dir='/a')['download_and_prepare_kwargs']
    self.assertEqual(config['download_config'].manual_dir, '/a')


class PrepareLockTest(absltest.TestCase):

  def test_load_holds_a_lock_in_the_data_dir(self):
    # Two processes preparing one dataset race in TFDS; each load holds an
    # exclusive lock beside the data, so a second process waits for it.
    data_dir = self.create_tempdir().full_path
    lock_path = os.path.join(data_dir, '.mnist.prepare.lock')
    held = []

    def fake_load(name, **kwargs):
      with open(lock_path) as other:
        try:
          fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
          held.append(False)
          fcntl.flock(other, fcntl.LOCK_UN)
        except BlockingIOError:
          held.append(True)
      return (name, kwargs['data_dir'])

    with mock.patch.object(images.tfds, 'load', fake_load):
      self.assertEqual(images._load('mnist', data_dir=data_dir),
                       ('mnist', data_dir))
    self.assertEqual(held, [True])
    with open(lock_path) as other:  # Released afterwards.
      fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


class UnavailableDataTest(parameterized.TestCase):
  """A dataset that cannot be had offline fails at once, in one line, before
  anything is written; the network is mocked, never waited for."""

  def setUp(self):
    super().setUp()
    self.data_dir = self.create_tempdir().full_path  # nothing prepared here
    self.enter_context(mock.patch.dict(os.environ, {images.MANUAL_DIR_ENV: ''}))

  @parameterized.parameters('mnist', 'fashion_mnist', 'cifar10', 'celeb_a',
                            'stacked_mnist')
  def test_offline_without_files(self, name):
    with mock.patch.object(images, '_reachable', return_value=False) as probe:
      with self.assertRaisesRegex(
          images.DataUnavailableError,
          rf'^{name} is not prepared in {self.data_dir}, no manual directory '
          r'was given, and its download host \S+ cannot be reached; put the '
          r'original files \(.+\) in a directory and pass --manual_dir \(or '
          r'set \$TFDS_MANUAL_DIR\), or pass --data_dir of a directory where '
          r'\w+ is prepared$'):
        images.require(name, self.data_dir)
    probe.assert_called_once()
    self.assertEqual(os.listdir(self.data_dir), [])

  def test_an_empty_or_missing_manual_dir_is_reported(self):
    empty = self.create_tempdir().full_path
    with mock.patch.object(images, '_reachable', return_value=True):
      with self.assertRaisesRegex(
          images.DataUnavailableError,
          rf'the manual directory {empty} lacks train-images-idx3-ubyte.gz, '
          r'train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, '
          r't10k-labels-idx1-ubyte.gz; put the original files'):
        images.require('mnist', self.data_dir, empty)
      with mock.patch.dict(os.environ, {images.MANUAL_DIR_ENV: '/no/such/dir'}):
        with self.assertRaisesRegex(images.DataUnavailableError,
                                    'manual directory /no/such/dir does not exist'):
          images.require('mnist', self.data_dir)

  def test_the_manual_files_or_a_prepared_copy_are_enough(self):
    shared_data.skip_without_mnist_files(self)
    with mock.patch.object(images, '_reachable', return_value=False):
      images.require('mnist', self.data_dir, shared_data.MANUAL_DIR)
    with shared_data.mock_tfds():
      images.require('cifar10', self.data_dir)  # mock data needs none

  def test_experiments_refuse_before_writing(self):
    from vi_gen.training import adversarial, config as config_lib, vae  # pylint: disable=g-import-not-at-top
    import configs  # pylint: disable=g-import-not-at-top
    workdir = os.path.join(self.create_tempdir().full_path, 'run')
    with mock.patch.object(images, '_reachable', return_value=False):
      for train, config in (
          (adversarial.train_and_evaluate, configs.recipe('cifar10', 'exp1')),
          (vae.train_and_evaluate, configs.load('vae_mnist'))):
        with self.assertRaisesRegex(config_lib.ConfigError, 'is not prepared'):
          train(config, workdir, data_dir=self.data_dir)
    self.assertFalse(os.path.exists(workdir))


class RealMNISTTest(absltest.TestCase):

  def test_real_mnist_from_the_manual_files(self):
    shared_data.skip_without_mnist_files(self)
    data_dir = self.create_tempdir().full_path
    x, y = images.load_arrays('mnist', 'test', data_dir=data_dir,
                              manual_dir=shared_data.MANUAL_DIR)
    self.assertEqual(x.shape, (10_000, 28, 28, 1))
    self.assertEqual(np.bincount(y).tolist(),
                     [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    batch = next(images.train_batches('mnist', batch_size=8, seed=0,
                                      data_dir=data_dir, manual_dir=shared_data.MANUAL_DIR))
    self.assertEqual(batch['image'].shape, (1, 8, 28, 28, 1))
    self.assertEqual(batch['image'].min(), -1.0)


if __name__ == '__main__':
  absltest.main()
