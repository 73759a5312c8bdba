"""VAE objectives: closed forms, likelihoods, and the bounds on an exact model."""

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp
import numpy as np

from vi_gen.losses import vae


class LinearGaussian:
  """z ~ N(0, I₂), x | z ~ N(Wz + b, σ² I₄): log p(x) and p(z|x) are exact.

  W has orthogonal columns, so the exact posterior is a diagonal Gaussian.
  """

  def __init__(self):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(4, 2)))
    self.w = q * np.array([1.5, 0.7])
    self.b = rng.normal(size=4)
    self.sigma = 0.5
    self.x = rng.normal(size=(5, 4)) * 1.5 + self.b

  def decoder_log_prob(self, z, x):
    mean = z @ self.w.T + self.b
    return vae.gaussian_log_likelihood(x, mean, jnp.full_like(mean,
                                                              2 * np.log(self.sigma)))

  def log_marginal(self) -> np.ndarray:
    cov = self.w @ self.w.T + self.sigma ** 2 * np.eye(4)
    diff = self.x - self.b
    _, logdet = np.linalg.slogdet(cov)
    maha = np.einsum('bi,ij,bj->b', diff, np.linalg.inv(cov), diff)
    return -0.5 * (4 * np.log(2 * np.pi) + logdet + maha)

  def posterior(self):
    scales = np.sum(self.w ** 2, axis=0)  # diagonal of WᵀW
    var = 1.0 / (1.0 + scales / self.sigma ** 2)
    mean = var * ((self.x - self.b) @ self.w) / self.sigma ** 2
    return jnp.asarray(mean), jnp.asarray(np.log(var) * np.ones_like(mean))


class BoundsTest(absltest.TestCase):

  def test_exact_posterior_makes_both_bounds_tight(self):
    with jax.enable_x64(True):
      model = LinearGaussian()
      mean, log_var = model.posterior()
      x = jnp.asarray(model.x)
      # Every importance weight q(x|z)q(z)/p(z|x) is then q(x) itself.
      for seed, k in ((0, 1), (1, 7)):
        bound = vae.importance_weighted_bound(jax.random.PRNGKey(seed), x, mean,
                                              log_var, model.decoder_log_prob, k)
        chex.assert_shape(bound, (5,))
        np.testing.assert_allclose(bound, model.log_marginal(), rtol=1e-10)
      # The ELBO (closed-form KL, sampled reconstruction) equals log q(x) in
      # expectation; one sample is noisy.
      keys = jax.random.split(jax.random.PRNGKey(2), 4000)
      losses, parts = jax.vmap(lambda k: vae.negative_elbo(
          k, x, mean, log_var, model.decoder_log_prob))(keys)
      chex.assert_shape((losses, parts['kl'], parts['reconstruction']), (4000, 5))
      se = np.asarray(losses.std(axis=0)) / np.sqrt(len(keys))
      np.testing.assert_array_less(
          np.abs(-np.asarray(losses.mean(axis=0)) - model.log_marginal()), 4 * se)

  def test_elbo_below_log_marginal_and_iwae_rises_with_k(self):
    with jax.enable_x64(True):
      model = LinearGaussian()
      mean, log_var = model.posterior()
      mean, log_var = mean + 0.4, log_var + 0.7  # a wrong encoder
      x = jnp.asarray(model.x)
      log_px = model.log_marginal().mean()
      keys = jax.random.split(jax.random.PRNGKey(0), 400)
      elbo = -jnp.mean(jax.vmap(lambda k: vae.negative_elbo(
          k, x, mean, log_var, model.decoder_log_prob)[0])(keys))
      self.assertLess(float(elbo), log_px - 0.1)
      bounds = []
      for k in (1, 10, 100, 1000):
        per_key = jax.vmap(lambda key, k=k: vae.importance_weighted_bound(
            key, x, mean, log_var, model.decoder_log_prob, k))(keys[:100])
        bounds.append(float(jnp.mean(per_key)))
      self.assertTrue(all(a < b for a, b in zip(bounds, bounds[1:])), bounds)
      self.assertLess(bounds[-1], log_px)
      self.assertLess(log_px - bounds[-1], 0.02)
      np.testing.assert_allclose(bounds[0], float(elbo), atol=0.1)  # k = 1 is the ELBO


class ClosedFormTest(absltest.TestCase):

  def test_gaussian_kl_matches_monte_carlo(self):
    mean = jnp.array([[0.5, -1.0, 0.2]])
    log_var = jnp.array([[-0.5, 0.3, 0.0]])
    z = vae.reparameterize(jax.random.PRNGKey(0), mean, log_var, 200_000)
    log_ratio = (vae.gaussian_log_likelihood(z, mean, log_var)
                 - vae.standard_normal_log_prob(z))[:, 0]
    estimate, se = float(log_ratio.mean()), float(log_ratio.std() / np.sqrt(len(z)))
    exact = float(vae.gaussian_kl_to_standard(mean, log_var)[0])
    self.assertLess(abs(estimate - exact), 4 * se + 1e-4)
    self.assertEqual(float(vae.gaussian_kl_to_standard(jnp.zeros((1, 3)),
                                                       jnp.zeros((1, 3)))[0]), 0.0)

  def test_bernoulli_log_likelihood_from_logits(self):
    logits = jnp.array([[-3.0, 0.0, 2.0, 100.0, -100.0]])
    x = jnp.array([[0.0, 1.0, 1.0, 1.0, 0.0]])
    expected = np.sum(np.where(np.asarray(x) > 0,
                               np.log(1 / (1 + np.exp(-np.asarray(logits, np.float64)))),
                               np.log(1 / (1 + np.exp(np.asarray(logits, np.float64))))))
    np.testing.assert_allclose(vae.bernoulli_log_likelihood(logits, x), [expected],
                               rtol=1e-6)
    # Confident and wrong: large but finite, where log(sigmoid(·)) would give −inf.
    wrong = vae.bernoulli_log_likelihood(jnp.array([[100.0]]), jnp.array([[0.0]]))
    np.testing.assert_allclose(wrong, [-100.0], rtol=1e-6)

  def test_image_event_dims_and_gradients(self):
    key = jax.random.PRNGKey(0)
    x = (jax.random.uniform(key, (3, 4, 4, 1)) > 0.5).astype(jnp.float32)
    mean, log_var = jnp.zeros((3, 2)), jnp.zeros((3, 2))
    decoder = lambda z, x: vae.bernoulli_log_likelihood(
        jnp.zeros_like(x) + z.sum(-1)[..., None, None, None], x, event_ndim=3)
    loss, _ = vae.negative_elbo(key, x, mean, log_var, decoder)
    chex.assert_shape(loss, (3,))
    grads = jax.grad(lambda m, v: vae.negative_elbo(key, x, m, v, decoder)[0].sum(),
                     argnums=(0, 1))(mean, log_var)
    chex.assert_tree_all_finite(grads)
    bound = vae.importance_weighted_bound(key, x, mean, log_var, decoder, 5)
    chex.assert_shape(bound, (3,))


if __name__ == '__main__':
  absltest.main()
