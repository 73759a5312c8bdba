"""EM for Gaussian mixtures: monotone likelihood, scikit-learn agreement, empty components."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from vi_gen import em


def _clusters(seed=0, n=600, d=2):
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(3, d)) * 4
  labels = rng.integers(0, 3, n)
  return centres[labels] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, (3, d))[labels]


class EMTest(parameterized.TestCase):

  @parameterized.parameters('full', 'diag')
  def test_log_likelihood_never_decreases(self, covariance_type):
    with jax.enable_x64(True):
      x = jnp.asarray(_clusters())
      init = em.initialize(x, em.kmeans_plus_plus(jax.random.PRNGKey(0), x, 5),
                           covariance_type)
      result = em.fit(x, init, max_iter=60, tol=1e-10)
      history = np.asarray(result.log_likelihood)[:int(result.num_iterations)]
      self.assertGreater(len(history), 5)
      self.assertTrue(np.all(np.diff(history) >= -1e-10), np.diff(history).min())
      final = float(em.mean_log_likelihood(x, result.gmm))
      self.assertGreaterEqual(final, history[-1] - 1e-10)

  @parameterized.parameters('full', 'diag')
  def test_agrees_with_scikit_learn_from_the_same_initialisation(self,
                                                                 covariance_type):
    mixture = self._sklearn()
    with jax.enable_x64(True):
      x = jnp.asarray(_clusters(seed=1))
      init = em.initialize(x, em.kmeans_plus_plus(jax.random.PRNGKey(1), x, 3),
                           covariance_type)
      ours = em.fit(x, init, max_iter=100, tol=1e-3)
      precisions = (np.linalg.inv(np.asarray(init.covariances))
                    if covariance_type == 'full' else 1 / np.asarray(init.covariances))
      reference = mixture.GaussianMixture(
          3, covariance_type=covariance_type, tol=1e-3, max_iter=100,
          reg_covar=1e-6, weights_init=np.asarray(init.weights),
          means_init=np.asarray(init.means), precisions_init=precisions).fit(
              np.asarray(x))
      self.assertEqual(int(ours.num_iterations), reference.n_iter_)
      np.testing.assert_allclose(em.mean_log_likelihood(x, ours.gmm),
                                 reference.score(np.asarray(x)), rtol=1e-6)
      np.testing.assert_allclose(ours.gmm.means, reference.means_, rtol=1e-5,
                                 atol=1e-8)
      np.testing.assert_allclose(ours.gmm.weights, reference.weights_, rtol=1e-5)
      np.testing.assert_allclose(ours.gmm.covariances, reference.covariances_,
                                 rtol=1e-5, atol=1e-8)

  @parameterized.parameters('full', 'diag')
  def test_a_component_that_loses_all_its_points_stays_finite(self, covariance_type):
    x = jnp.asarray(_clusters(seed=2), jnp.float32)
    centres = jnp.concatenate([x[:2], jnp.full((1, 2), 1e4)])  # one far from all
    init = em.initialize(x, centres, covariance_type)
    init = init._replace(means=centres, weights=jnp.full((3,), 1 / 3))
    result = em.fit(x, init, max_iter=20, tol=0.0)
    chex.assert_tree_all_finite(result.gmm)
    self.assertLess(float(result.gmm.weights[2]), 1e-6)
    self.assertTrue(np.all(np.isfinite(result.log_likelihood)))

  def test_kmeans_plus_plus_picks_distinct_data_points(self):
    x = jnp.asarray(_clusters(seed=3), jnp.float32)
    centres = np.asarray(em.kmeans_plus_plus(jax.random.PRNGKey(0), x, 8))
    self.assertEqual(len({tuple(c) for c in centres}), 8)
    for c in centres:
      self.assertTrue(np.any(np.all(np.asarray(x) == c, axis=1)))

  def test_unknown_covariance_type(self):
    with self.assertRaisesRegex(ValueError, 'covariance_type'):
      em.m_step(jnp.zeros((3, 2)), jnp.ones((3, 1)), 'spherical')

  def test_a_component_with_no_usable_covariance_stops_the_fit(self):
    # One isolated point, its own component, and no ridge at all: that
    # component's covariance is zero, and no ridge scaled to it helps.
    x = jnp.concatenate([jnp.asarray(_clusters(seed=4) + 100, jnp.float32),
                         jnp.zeros((1, 2), jnp.float32)])  # its mean is exact
    init = em.initialize(x, jnp.concatenate([x[:2], x[-1:]]), 'full', 1e-6)
    result = em.fit(x, init, max_iter=20, tol=0.0, reg_covar=0.0)
    self.assertEqual(int(result.failed_iteration), 1)
    self.assertEqual(int(result.failed_component), 2)
    self.assertFalse(bool(result.converged))
    chex.assert_tree_all_finite(result.gmm)  # the last usable parameters
    self.assertEqual(int(result.num_iterations), 1)

  def _sklearn(self):
    try:
      from sklearn import mixture  # pylint: disable=g-import-not-at-top
    except ImportError:
      self.skipTest('scikit-learn is not installed (pip install -e ".[test]")')
    return mixture


def _symmetric(matrices):
  return (matrices + np.swapaxes(matrices, -1, -2)) / 2


class DigitsFloat32Test(absltest.TestCase):
  """scikit-learn's 8×8 digits (64 dimensions, some constant, others nearly
  collinear), K = 10, full covariances, reg_covar = 1e-6, in float32: from
  initialisations where plain float32 Cholesky fails, the fit never returns
  NaN, says which components needed a raised ridge, and elsewhere agrees with
  scikit-learn's float64 fit from the same initialisation."""

  def test_several_initialisations_against_scikit_learn(self):
    try:
      from sklearn import datasets, mixture  # pylint: disable=g-import-not-at-top
    except ImportError:
      self.skipTest('scikit-learn is not installed (pip install -e ".[test]")')
    x = datasets.load_digits().data
    raised_somewhere = False
    for seed in (0, 3):  # plain float32 factors every covariance of 0, not of 3
      with jax.enable_x64(True):
        x64 = jnp.asarray(x, jnp.float64)
        centres = em.kmeans_plus_plus(jax.random.PRNGKey(seed), x64, 10)
        init = em.initialize(x64, centres, 'full', 1e-6)
      reference = mixture.GaussianMixture(
          10, covariance_type='full', tol=1e-3, max_iter=100, reg_covar=1e-6,
          weights_init=np.asarray(init.weights),
          means_init=np.asarray(init.means),
          precisions_init=_symmetric(np.linalg.inv(np.asarray(init.covariances)))
      ).fit(x)
      x32 = jnp.asarray(x, jnp.float32)
      result = em.fit(x32, em.initialize(x32, jnp.asarray(centres, jnp.float32),
                                         'full', 1e-6),
                      max_iter=100, tol=1e-3, reg_covar=1e-6)
      n = int(result.num_iterations)
      self.assertEqual(int(result.failed_iteration), 0, seed)
      chex.assert_tree_all_finite(result.gmm)
      history = np.asarray(result.log_likelihood)[:n]
      self.assertTrue(np.all(np.isfinite(history)), seed)
      self.assertEqual(bool(result.converged),
                       n >= 2 and abs(history[-1] - history[-2]) < 1e-3)
      raised = np.asarray(result.ridge_raised)
      np.testing.assert_array_equal(raised > 0, np.asarray(result.first_raised) > 0)
      if raised.any():
        raised_somewhere = True
      else:
        self.assertAlmostEqual(float(em.mean_log_likelihood(x32, result.gmm)),
                               reference.score(x), delta=0.05, msg=seed)
    self.assertTrue(raised_somewhere)  # these seeds include the hard case


if __name__ == '__main__':
  absltest.main()
