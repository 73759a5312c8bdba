"""Stacked-MNIST modes/KL and the Fréchet distance on constructed inputs; the classifier."""

import math
import os

from absl.testing import absltest
import flax
import jax
import numpy as np

from vi_gen.data import images
from vi_gen.metrics import image_metrics
from vi_gen.metrics import mnist_classifier

from shared_data import MANUAL_DIR, skip_without_mnist_files


def _triples(codes):
  codes = np.asarray(codes)
  return np.stack([codes // 100, codes // 10 % 10, codes % 10], axis=1)


class StackedModesTest(absltest.TestCase):

  def test_a_sampler_that_hits_every_triple_uniformly(self):
    labels = _triples(np.repeat(np.arange(1000), 26))  # 26,000 samples
    result = image_metrics.stacked_mnist_modes(labels)
    self.assertEqual(result.modes, 1000)
    self.assertAlmostEqual(result.kl, 0.0, places=12)

  def test_a_single_triple_sampler(self):
    result = image_metrics.stacked_mnist_modes(_triples(np.full(26_000, 417)))
    self.assertEqual(result.modes, 1)
    self.assertAlmostEqual(result.kl, math.log(1000), places=12)
    self.assertEqual(result.counts[417], 26_000)

  def test_half_the_modes_twice_as_often(self):
    result = image_metrics.stacked_mnist_modes(_triples(np.repeat(np.arange(500), 4)))
    self.assertEqual(result.modes, 500)
    self.assertAlmostEqual(result.kl, math.log(2), places=12)

  def test_rejects_wrong_shapes(self):
    with self.assertRaises(ValueError):
      image_metrics.stacked_mnist_modes(np.zeros((5, 2), int))
    with self.assertRaises(ValueError):
      image_metrics.digit_modes(np.zeros((5, 3), int))

  def test_digits_on_mnist(self):
    # 6 of 10 digits: 0 four times as often as each of 1-5 (p = 4/9, 1/9 × 5).
    labels = np.concatenate([np.zeros(400), np.repeat(np.arange(1, 6), 100)])
    result = image_metrics.digit_modes(labels.astype(int)[:, None])
    self.assertEqual(result.modes, 6)
    expected = 4 / 9 * math.log(40 / 9) + 5 / 9 * math.log(10 / 9)
    self.assertAlmostEqual(result.kl, expected, places=12)
    self.assertEqual(result.counts.tolist(), [400] + [100] * 5 + [0] * 4)


class FrechetDistanceTest(absltest.TestCase):

  def test_a_set_against_itself_is_zero(self):
    features = np.random.default_rng(0).normal(size=(2000, 16)) @ np.diag(
        np.linspace(0.1, 3, 16))
    stats = image_metrics.gaussian_stats(features)
    self.assertAlmostEqual(image_metrics.frechet_distance(stats, stats), 0.0,
                           places=6)

  def test_closed_form_for_diagonal_gaussians(self):
    # For diagonal covariances: ‖μ₁−μ₂‖² + Σ (σ₁ − σ₂)².
    a = image_metrics.GaussianStats(np.array([0., 1., 2.]), np.diag([1., 4., 9.]), 1)
    b = image_metrics.GaussianStats(np.array([1., 1., 0.]), np.diag([4., 4., 1.]), 1)
    expected = (1 + 0 + 4) + ((1 - 2) ** 2 + 0 + (3 - 1) ** 2)
    self.assertAlmostEqual(image_metrics.frechet_distance(a, b), expected, places=9)
    self.assertAlmostEqual(image_metrics.frechet_distance(b, a), expected, places=9)

  def test_grows_with_a_shift(self):
    rng = np.random.default_rng(1)
    base = rng.normal(size=(3000, 8))
    near = image_metrics.frechet_distance(image_metrics.gaussian_stats(base),
                                          image_metrics.gaussian_stats(base + 0.1))
    far = image_metrics.frechet_distance(image_metrics.gaussian_stats(base),
                                         image_metrics.gaussian_stats(base + 1.0))
    self.assertAlmostEqual(near, 8 * 0.01, places=6)
    self.assertAlmostEqual(far, 8 * 1.0, places=6)


class ClassifierTest(absltest.TestCase):

  def test_training_is_deterministic_from_the_seed(self):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(256, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 10, size=256)
    config = mnist_classifier.TrainConfig(seed=3, epochs=1, batch_size=64)
    first = flax.serialization.to_bytes(mnist_classifier.train(x, y, config))
    second = flax.serialization.to_bytes(mnist_classifier.train(x, y, config))
    self.assertEqual(first, second)
    other = flax.serialization.to_bytes(mnist_classifier.train(
        x, y, mnist_classifier.TrainConfig(seed=4, epochs=1, batch_size=64)))
    self.assertNotEqual(first, other)

  def test_save_and_load_round_trip(self):
    path = os.path.join(self.create_tempdir().full_path, 'c.msgpack')
    params = mnist_classifier.MNISTClassifier().init(
        jax.random.PRNGKey(0), np.zeros((1, 28, 28, 1)))['params']
    record = mnist_classifier.save(params, {'seed': 0}, path)
    loaded = mnist_classifier.load(path)
    self.assertEqual(loaded.record['sha256'], record['sha256'])
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 3), dtype=np.uint8)
    labels, features = loaded.channel_outputs(x)
    self.assertEqual(labels.shape, (5, 3))
    self.assertEqual(features.shape, (5, 3 * mnist_classifier.FEATURE_DIM))
    # Channel c of the stacked output is the single-channel result on channel c.
    np.testing.assert_allclose(features[:, 128:256],
                               loaded.features(x[..., 1:2]), rtol=1e-5, atol=1e-6)

  def test_missing_weights_name_the_rebuild_command(self):
    with self.assertRaisesRegex(FileNotFoundError, 'experiments.mnist_classifier'):
      mnist_classifier.load('/nonexistent/c.msgpack')

  def test_shipped_classifier_is_at_least_99_percent_on_real_mnist(self):
    skip_without_mnist_files(self)
    classifier = mnist_classifier.load(mnist_classifier.DEFAULT_PATH)
    x, y = images.load_arrays('mnist', 'test',
                              data_dir=self.create_tempdir().full_path,
                              manual_dir=MANUAL_DIR)
    accuracy = float(np.mean(classifier.predict(x) == y))
    self.assertGreaterEqual(accuracy, 0.99)
    # The record was measured when the weights were built; allow a few images
    # of numerical drift across XLA optimisation settings.
    self.assertAlmostEqual(accuracy, classifier.record['test_accuracy'], delta=3e-4)


if __name__ == '__main__':
  absltest.main()
