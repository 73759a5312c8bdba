"""The 2D mixtures and the mode metrics on constructed sample sets."""

import math

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from vi_gen.data import toy2d
from vi_gen.metrics.modes2d import mode_metrics


class MixtureTest(absltest.TestCase):

  def test_ring8_geometry(self):
    ring = toy2d.ring8()
    self.assertEqual(ring.num_modes, 8)
    np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 1.0, rtol=1e-6)
    dists = np.linalg.norm(ring.means[:, None] - ring.means[None], axis=-1)
    min_gap = dists[~np.eye(8, dtype=bool)].min()
    # Eight distinct, evenly spaced modes (linspace(0, 2π, 8) would give gap 0).
    np.testing.assert_allclose(min_gap, 2 * math.sin(math.pi / 8), rtol=1e-5)
    self.assertEqual(ring.sigma, 0.01)

  def test_grid25_geometry(self):
    grid = toy2d.grid25()
    self.assertEqual(grid.num_modes, 25)
    self.assertEqual(sorted(set(grid.means[:, 0].tolist())),
                     [-4.0, -2.0, 0.0, 2.0, 4.0])
    self.assertLen({tuple(m) for m in grid.means.tolist()}, 25)
    self.assertEqual(grid.sigma, 0.05)

  def test_sample_shape_and_spread(self):
    grid = toy2d.grid25()
    x = jax.jit(grid.sample, static_argnums=1)(jax.random.PRNGKey(0), 20000)
    self.assertEqual(x.shape, (20000, 2))
    scores = mode_metrics(x, grid.means, grid.sigma)
    self.assertEqual(int(scores.modes), 25)
    # P(|x - μ| < 3σ) for an isotropic 2D Gaussian is 1 - exp(-9/2) = 98.89%.
    self.assertAlmostEqual(float(scores.hq), 100 * (1 - math.exp(-4.5)), delta=0.5)
    self.assertLess(float(scores.reverse_kl), 0.01)

  def test_unknown_name(self):
    with self.assertRaisesRegex(ValueError, 'unknown 2D dataset'):
      toy2d.get_mixture('ring9')


class ModeMetricsTest(parameterized.TestCase):

  @parameterized.parameters('ring8', 'grid25')
  def test_every_mode_hit_equally(self, name):
    mix = toy2d.get_mixture(name)
    samples = jnp.tile(jnp.asarray(mix.means), (100, 1))
    scores = mode_metrics(samples, mix.means, mix.sigma)
    self.assertEqual(int(scores.modes), mix.num_modes)
    self.assertAlmostEqual(float(scores.hq), 100.0, places=4)
    self.assertAlmostEqual(float(scores.reverse_kl), 0.0, places=5)
    np.testing.assert_array_equal(scores.counts, 100)

  @parameterized.parameters('ring8', 'grid25')
  def test_one_mode(self, name):
    mix = toy2d.get_mixture(name)
    samples = jnp.tile(jnp.asarray(mix.means[3:4]), (2500, 1))
    samples += 0.5 * mix.sigma  # Inside 3σ.
    scores = mode_metrics(samples, mix.means, mix.sigma)
    self.assertEqual(int(scores.modes), 1)
    self.assertAlmostEqual(float(scores.hq), 100.0, places=4)
    self.assertAlmostEqual(float(scores.reverse_kl), math.log(mix.num_modes),
                           places=5)

  def test_off_mode_noise(self):
    mix = toy2d.ring8()
    # The origin is 1 = 100σ from every mode of the ring.
    samples = 0.1 * jax.random.normal(jax.random.PRNGKey(0), (2500, 2))
    scores = mode_metrics(samples, mix.means, mix.sigma)
    self.assertEqual(int(scores.modes), 0)
    self.assertEqual(float(scores.hq), 0.0)
    self.assertAlmostEqual(float(scores.reverse_kl), math.log(8), places=5)

  def test_half_noise_half_two_modes(self):
    mix = toy2d.ring8()
    on = jnp.concatenate([jnp.tile(jnp.asarray(mix.means[:1]), (300, 1)),
                          jnp.tile(jnp.asarray(mix.means[1:2]), (100, 1))])
    off = jnp.full((400, 2), 5.0)
    scores = mode_metrics(jnp.concatenate([on, off]), mix.means, mix.sigma)
    self.assertEqual(int(scores.modes), 2)
    self.assertAlmostEqual(float(scores.hq), 50.0, places=4)
    # Histogram (3/4, 1/4) against uniform over 8.
    want = 0.75 * math.log(0.75 * 8) + 0.25 * math.log(0.25 * 8)
    self.assertAlmostEqual(float(scores.reverse_kl), want, places=5)

  def test_just_outside_three_sigma_is_not_high_quality(self):
    mix = toy2d.ring8()
    inside = jnp.asarray(mix.means[:1]) + jnp.array([[2.9 * mix.sigma, 0.0]])
    outside = jnp.asarray(mix.means[:1]) + jnp.array([[3.1 * mix.sigma, 0.0]])
    self.assertEqual(float(mode_metrics(inside, mix.means, mix.sigma).hq), 100.0)
    self.assertEqual(float(mode_metrics(outside, mix.means, mix.sigma).hq), 0.0)


if __name__ == '__main__':
  absltest.main()
