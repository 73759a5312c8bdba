"""GAN objectives (eqs. 16, 20, 26) against hand-computed values."""

import math

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp
from jax import test_util as jtu
import numpy as np

from vi_gen.losses import gan


def _sigmoid(l):
  return 1.0 / (1.0 + math.exp(-l))


class GANLossesTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.real_logits = np.array([0.0, 2.0, -1.5], np.float32)
    self.fake_logits = np.array([0.0, -3.0, 0.5], np.float32)
    # Straight from the probabilities D = sigmoid(logit), as the paper writes them.
    self.expected_d = np.array([
        -math.log(_sigmoid(r)) - math.log(1 - _sigmoid(f))
        for r, f in zip(self.real_logits, self.fake_logits)], np.float32)
    self.expected_g = np.array(
        [-math.log(_sigmoid(f)) for f in self.fake_logits], np.float32)
    self.expected_minimax = np.array(
        [math.log(1 - _sigmoid(f)) for f in self.fake_logits], np.float32)

  def test_discriminator_loss(self):
    got = jax.jit(gan.discriminator_loss)(self.real_logits, self.fake_logits)
    np.testing.assert_allclose(got, self.expected_d, rtol=1e-6)
    # At D = 1/2 everywhere the loss is 2 log 2.
    np.testing.assert_allclose(got[0], 2 * math.log(2), rtol=1e-6)

  def test_generator_loss(self):
    got = jax.jit(gan.generator_loss)(self.fake_logits)
    np.testing.assert_allclose(got, self.expected_g, rtol=1e-6)

  def test_minimax_generator_loss(self):
    got = jax.jit(gan.minimax_generator_loss)(self.fake_logits)
    np.testing.assert_allclose(got, self.expected_minimax, rtol=1e-6)

  def test_losses_are_per_example(self):
    logits = jnp.zeros((7,))
    chex.assert_shape(gan.discriminator_loss(logits, logits), (7,))
    chex.assert_shape(gan.generator_loss(logits), (7,))
    chex.assert_shape(gan.minimax_generator_loss(logits), (7,))

  def test_gradients(self):
    real, fake = jnp.asarray(self.real_logits), jnp.asarray(self.fake_logits)
    jtu.check_grads(lambda r, f: gan.discriminator_loss(r, f).sum(), (real, fake),
                    order=2, modes=['rev'])
    jtu.check_grads(lambda f: gan.generator_loss(f).sum(), (fake,), order=2,
                    modes=['rev'])
    jtu.check_grads(lambda f: gan.minimax_generator_loss(f).sum(), (fake,),
                    order=2, modes=['rev'])

  def test_finite_at_extreme_logits(self):
    extreme = jnp.array([-100.0, 100.0])
    for fn in (lambda l: gan.discriminator_loss(l, l), gan.generator_loss,
               gan.minimax_generator_loss):
      chex.assert_tree_all_finite(fn(extreme))
      chex.assert_tree_all_finite(jax.grad(lambda l, fn=fn: fn(l).sum())(extreme))
    # The confident-and-wrong case costs ~100 nats, not inf.
    np.testing.assert_allclose(gan.generator_loss(jnp.array(-100.0)), 100.0,
                               rtol=1e-6)


class GeneratorDriftTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    self.samples = rng.normal(size=(3, 4, 4, 2)).astype(np.float32)
    self.anchor = rng.normal(size=(3, 4, 4, 2)).astype(np.float32)

  def test_element_wise_mean_per_example(self):
    got = jax.jit(gan.generator_drift)(self.samples, self.anchor)
    chex.assert_shape(got, (3,))
    for i in range(3):
      diff = (self.samples[i] - self.anchor[i]).ravel()
      np.testing.assert_allclose(got[i], np.sum(diff * diff) / diff.size,
                                 rtol=1e-5)

  def test_batch_mean_is_mean_over_all_elements(self):
    # λ = 5 in the paper's code multiplies the mean over batch × H × W × C.
    got = gan.generator_drift(self.samples, self.anchor).mean()
    np.testing.assert_allclose(got, np.mean((self.samples - self.anchor) ** 2),
                               rtol=1e-5)

  def test_no_gradient_into_anchor(self):
    grad = jax.grad(lambda a: gan.generator_drift(self.samples, a).sum())(
        jnp.asarray(self.anchor))
    np.testing.assert_array_equal(grad, np.zeros_like(self.anchor))

  def test_gradient_zero_at_anchor(self):
    grad = jax.grad(lambda x: gan.generator_drift(x, x).sum())(
        jnp.asarray(self.samples))
    np.testing.assert_array_equal(grad, np.zeros_like(self.samples))

  def test_gradient_check(self):
    anchor = jnp.asarray(self.anchor)
    jtu.check_grads(lambda x: gan.generator_drift(x, anchor).sum(),
                    (jnp.asarray(self.samples),), order=1, modes=['rev'])

  def test_variational_generator_loss_is_eq26(self):
    logits = jnp.array([0.3, -2.0, 1.0])
    got = gan.variational_generator_loss(logits, self.samples, self.anchor, 5.0)
    want = (gan.generator_loss(logits)
            + 5.0 * gan.generator_drift(self.samples, self.anchor))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(
        gan.variational_generator_loss(logits, self.samples, self.anchor, 0.0),
        gan.generator_loss(logits), rtol=1e-6)

  def test_no_anchor_means_no_term(self):
    logits = jnp.array([0.3, -2.0, 1.0])
    np.testing.assert_array_equal(
        gan.variational_generator_loss(logits, self.samples, None, 0.0),
        gan.generator_loss(logits))
    with self.assertRaisesRegex(ValueError, 'anchor'):
      gan.variational_generator_loss(logits, self.samples, None, 5.0)


if __name__ == '__main__':
  absltest.main()
