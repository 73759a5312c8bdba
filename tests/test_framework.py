"""Eq. 4 on random discrete joints, and eq. 22 against a closed-form KL."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from vi_gen import framework


def _random_tables(seed: int, num_x: int, num_z: int):
  rng = np.random.default_rng(seed)
  data = rng.dirichlet(np.ones(num_x))
  inference = rng.dirichlet(np.ones(num_z), size=num_x)
  model = rng.dirichlet(np.ones(num_x * num_z)).reshape(num_x, num_z)
  return data, inference, model


class JointKLTest(parameterized.TestCase):

  @parameterized.parameters((0, 2, 2), (1, 5, 3), (2, 10, 7), (3, 50, 20))
  def test_joint_kl_is_marginal_plus_expected_conditional(self, seed, num_x, num_z):
    with jax.enable_x64(True):
      terms = framework.joint_kl_terms(*map(jnp.asarray,
                                            _random_tables(seed, num_x, num_z)))
      np.testing.assert_allclose(terms.joint, terms.marginal + terms.conditional,
                                 rtol=1e-12, atol=1e-14)
      self.assertGreater(float(terms.conditional), 0.0)
      self.assertGreater(float(terms.joint), float(terms.marginal))  # eq. 4's ≥

  def test_equality_when_the_inference_model_is_the_posterior(self):
    """The bound is tight exactly when p(z|x) = q(z|x)."""
    with jax.enable_x64(True):
      data, _, model = map(jnp.asarray, _random_tables(4, 6, 4))
      posterior = model / model.sum(axis=1, keepdims=True)
      terms = framework.joint_kl_terms(data, posterior, model)
      np.testing.assert_allclose(terms.conditional, 0.0, atol=1e-14)
      np.testing.assert_allclose(terms.joint, terms.marginal, rtol=1e-12)

  def test_zero_probabilities(self):
    p = jnp.array([0.5, 0.5, 0.0])
    np.testing.assert_allclose(framework.discrete_kl(p, jnp.array([0.25, 0.25, 0.5])),
                               np.log(2.0), rtol=1e-6)
    self.assertTrue(np.isinf(framework.discrete_kl(jnp.array([0.5, 0.5]),
                                                   jnp.array([1.0, 0.0]))))


class SecondOrderTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    self.mean, self.log_std = rng.normal(size=3), rng.normal(size=3) * 0.3
    self.direction = rng.normal(size=6)

  def _kl_after_step(self, delta):
    d = len(self.mean)
    return framework.gaussian_kl(self.mean, self.log_std, self.mean - delta[:d],
                                 self.log_std - delta[d:])

  def test_error_shrinks_as_the_cube_of_the_step(self):
    with jax.enable_x64(True):
      fisher = framework.gaussian_fisher(jnp.asarray(self.log_std))
      errors = []
      for eps in (0.1, 0.05, 0.025, 0.0125):
        delta = jnp.asarray(eps * self.direction)
        errors.append(abs(float(self._kl_after_step(delta)
                                - framework.fisher_quadratic_form(fisher, delta))))
      ratios = np.array(errors[:-1]) / np.array(errors[1:])
      # Halving the step divides an O(ε³) error by 8.
      np.testing.assert_allclose(ratios, 8.0, rtol=0.15)

  def test_fisher_is_the_hessian_of_the_kl_at_zero(self):
    with jax.enable_x64(True):
      hessian = jax.hessian(self._kl_after_step)(jnp.zeros(6))
      np.testing.assert_allclose(hessian,
                                 framework.gaussian_fisher(jnp.asarray(self.log_std)),
                                 rtol=1e-10, atol=1e-12)


if __name__ == '__main__':
  absltest.main()
