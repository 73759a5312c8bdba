"""AAE (eqs. 30, 34) and ALI (eqs. 38, 41–43) objectives against hand-computed values."""

import math

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp
from jax import test_util as jtu
import numpy as np
from scipy import integrate

from vi_gen.losses import aae
from vi_gen.losses import ali


def _sigmoid(l):
  return 1.0 / (1.0 + math.exp(-l))


class ALILossesTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.enc = np.array([0.0, 2.0, -1.5, 4.0], np.float32)
    self.gen = np.array([0.0, -3.0, 0.5, 1.0], np.float32)
    d_enc = [_sigmoid(l) for l in self.enc]
    d_gen = [_sigmoid(l) for l in self.gen]
    # Straight from the probabilities, as the paper writes eqs. 38 and 41–43.
    self.expected = {
        'd': [-math.log(a) - math.log(1 - b) for a, b in zip(d_enc, d_gen)],
        'vi': [-math.log(a) - math.log(b) for a, b in zip(d_enc, d_gen)],
        'minimax': [math.log(a) + math.log(1 - b) for a, b in zip(d_enc, d_gen)],
        'nonsaturating': [-math.log(1 - a) - math.log(b)
                          for a, b in zip(d_enc, d_gen)],
    }

  def test_values(self):
    np.testing.assert_allclose(
        jax.jit(ali.discriminator_loss)(self.enc, self.gen), self.expected['d'],
        rtol=1e-6)
    for name, fn in ali.GENERATOR_LOSSES.items():
      np.testing.assert_allclose(jax.jit(fn)(self.enc, self.gen),
                                 self.expected[name], rtol=1e-6, err_msg=name)

  def test_minimax_is_minus_the_discriminator_loss(self):
    np.testing.assert_allclose(ali.minimax_generator_loss(self.enc, self.gen),
                               -ali.discriminator_loss(self.enc, self.gen),
                               rtol=1e-6)

  def test_eq41_and_eq43_differ_exactly_in_the_encoder_term(self):
    # -log D - (-log(1 - D)) = -logit, so eq. 41 = eq. 43 - encoder logit, for
    # any generator logits.
    key_e, key_g = jax.random.split(jax.random.PRNGKey(0))
    enc = 5 * jax.random.normal(key_e, (1000,))
    gen = 5 * jax.random.normal(key_g, (1000,))
    vi = ali.vi_generator_loss(enc, gen)
    ns = ali.nonsaturating_generator_loss(enc, gen)
    np.testing.assert_allclose(vi - ns, -enc, atol=2e-5)
    # Their gradients in the generator logits are identical.
    g = lambda fn: jax.grad(lambda l: fn(enc, l).sum())(gen)
    np.testing.assert_array_equal(g(ali.vi_generator_loss),
                                  g(ali.nonsaturating_generator_loss))
    # In the encoder logits: sigmoid(l) - 1 against sigmoid(l), a difference of 1.
    e = lambda fn: jax.grad(lambda l: fn(l, gen).sum())(enc)
    np.testing.assert_allclose(e(ali.vi_generator_loss)
                               - e(ali.nonsaturating_generator_loss), -1.0,
                               atol=1e-6)

  def test_finite_for_large_logits(self):
    big = jnp.array([-200.0, 200.0])
    for fn in (ali.discriminator_loss, *ali.GENERATOR_LOSSES.values()):
      chex.assert_tree_all_finite(fn(big, big[::-1]))
      chex.assert_tree_all_finite(jax.grad(lambda a, b: fn(a, b).sum())(big, big))

  def test_shapes_and_gradients(self):
    enc, gen = jnp.asarray(self.enc), jnp.asarray(self.gen)
    for fn in (ali.discriminator_loss, *ali.GENERATOR_LOSSES.values()):
      chex.assert_shape(fn(enc, gen), (4,))
      jtu.check_grads(lambda a, b: fn(a, b).sum(), (enc, gen), order=2,
                      modes=['rev'])

  def test_input_gradient_penalty_by_hand(self):
    # A logit linear in (x, z), w·x + v·z: its input gradient is (w, v) for
    # every example, so the penalty is ‖w‖² + ‖v‖² = 1 + 4 + 9 + 16 = 30.
    w, v = jnp.array([1.0, -2.0]), jnp.array([[3.0], [4.0]])
    logit = lambda x, z: x @ w + jnp.einsum('bij,ij->b', z, v)
    x, z = jnp.ones((3, 2)), jnp.zeros((3, 2, 1))
    grads = jax.grad(lambda x, z: logit(x, z).sum(), argnums=(0, 1))(x, z)
    penalty = ali.input_gradient_penalty(*grads)
    chex.assert_shape(penalty, (3,))
    np.testing.assert_allclose(penalty, [30.0, 30.0, 30.0])
    # Per example, over x's and z's axes only.
    np.testing.assert_allclose(
        ali.input_gradient_penalty(jnp.array([[1.0, 0.0], [0.0, 2.0]]),
                                   jnp.array([[3.0], [0.0]])), [10.0, 4.0])


class ALIVariationalLossTest(absltest.TestCase):

  def test_each_loss_plus_eq40s_generator_term(self):
    enc = jnp.array([0.5, -1.0])
    gen = jnp.array([2.0, 0.1])
    fake = jnp.array([[1.0, 2.0], [0.0, 0.0]])
    anchor = jnp.array([[1.0, 1.0], [0.0, 2.0]])  # drift 0.5 and 2.0 per example
    for name, base in ali.GENERATOR_LOSSES.items():
      np.testing.assert_allclose(
          ali.variational_generator_loss(name, enc, gen, fake, anchor, 3.0),
          base(enc, gen) + 3.0 * np.array([0.5, 2.0]), rtol=1e-6)
      np.testing.assert_array_equal(
          ali.variational_generator_loss(name, enc, gen, fake, None, 0.0),
          base(enc, gen))


class AAELossesTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.code = np.array([0.0, 2.0, -1.5], np.float32)
    self.prior = np.array([0.0, -3.0, 0.5], np.float32)
    self.x = np.arange(12, dtype=np.float32).reshape(3, 2, 2) / 10
    self.recon = self.x + np.array([0.1, -0.2, 0.3], np.float32)[:, None, None]

  def test_values(self):
    # D(z) = q(0|z): the probability that z is a prior draw.
    expected_d = [-math.log(1 - _sigmoid(c)) - math.log(_sigmoid(p))
                  for c, p in zip(self.code, self.prior)]
    np.testing.assert_allclose(
        jax.jit(aae.latent_discriminator_loss)(self.code, self.prior), expected_d,
        rtol=1e-6)
    expected_adv = [-math.log(_sigmoid(c)) for c in self.code]
    np.testing.assert_allclose(aae.encoder_adversarial_loss(self.code),
                               expected_adv, rtol=1e-6)
    np.testing.assert_allclose(aae.reconstruction_error(self.x, self.recon),
                               [0.01, 0.04, 0.09], rtol=1e-5)
    np.testing.assert_allclose(
        aae.autoencoder_loss(self.code, self.x, self.recon, 10.0),
        np.array(expected_adv) + 10 * np.array([0.01, 0.04, 0.09]), rtol=1e-5)

  def test_gradients(self):
    code, prior = jnp.asarray(self.code), jnp.asarray(self.prior)
    jtu.check_grads(lambda c, p: aae.latent_discriminator_loss(c, p).sum(),
                    (code, prior), order=2, modes=['rev'])
    jtu.check_grads(lambda c, x, r: aae.autoencoder_loss(c, x, r, 3.0).sum(),
                    (code, jnp.asarray(self.x), jnp.asarray(self.recon)), order=2,
                    modes=['rev'])

  def test_variational_autoencoder_loss_adds_eq32s_term(self):
    codes = np.array([[0.5, -1.0], [2.0, 0.0], [0.0, 0.3]], np.float32)
    anchor = codes + np.array([[0.1, 0.1], [-0.2, 0.0], [0.0, 0.4]], np.float32)
    got = aae.variational_autoencoder_loss(self.code, self.x, self.recon, 10.0,
                                           codes, anchor, 2.0)
    # λ' times the mean over the code's dimensions of (E(x) − E°(x))².
    want = (aae.autoencoder_loss(self.code, self.x, self.recon, 10.0)
            + 2.0 * np.array([0.01, 0.02, 0.08]))
    np.testing.assert_allclose(got, want, rtol=1e-5)

  def test_encoder_loss_against_the_optimal_discriminator_by_hand(self):
    # Codes z ~ N(mu, 1) against the prior N(0, 1). The Bayes-optimal latent D
    # has log-odds log N(z; 0, 1) / N(z; mu, 1) = -mu z + mu²/2, so the
    # encoder's adversarial loss E_codes[-log D(z)] is the integral below.
    for mu in (0.0, 0.5, 2.0):
      logit = lambda z, mu=mu: -mu * z + mu * mu / 2
      by_hand, _ = integrate.quad(
          lambda z, mu=mu: math.log1p(math.exp(-logit(z)))
          * math.exp(-(z - mu) ** 2 / 2) / math.sqrt(2 * math.pi), -12, 12)
      codes = mu + jax.random.normal(jax.random.PRNGKey(1), (400_000,))
      estimate = aae.encoder_adversarial_loss(logit(codes)).mean()
      np.testing.assert_allclose(estimate, by_hand, rtol=5e-3, err_msg=f'mu={mu}')
      if mu == 0.0:  # Codes that follow the prior: D = 1/2 everywhere.
        self.assertAlmostEqual(by_hand, math.log(2), places=6)
        np.testing.assert_allclose(
            aae.latent_discriminator_loss(logit(codes), logit(codes)).mean(),
            2 * math.log(2), rtol=1e-6)


if __name__ == '__main__':
  absltest.main()
