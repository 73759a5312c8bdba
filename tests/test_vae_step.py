"""The VAE models, train step and importance-weighted evaluation."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vi_gen.losses import vae as vae_losses
from vi_gen.models import vae as vae_models
from vi_gen.training import vae_step

SHAPE = (8, 8, 1)


def tiny_state(architecture='mlp', likelihood='bernoulli', seed=0):
  model = vae_models.make_vae(architecture, SHAPE, latent_dim=4,
                              likelihood=likelihood, hidden=(16,), width=4)
  return vae_step.VAEState.create(rng=jax.random.PRNGKey(seed), model=model,
                                  tx=optax.adam(1e-2), image_shape=SHAPE,
                                  latent_dim=4, likelihood=likelihood)


def tiny_images(num=32, seed=1):
  return jax.random.uniform(jax.random.PRNGKey(seed), (num, *SHAPE))


class ModelTest(parameterized.TestCase):

  @parameterized.product(architecture=('mlp', 'conv'),
                         likelihood=('bernoulli', 'gaussian'))
  def test_shapes(self, architecture, likelihood):
    state = tiny_state(architecture, likelihood)
    x = tiny_images(3)
    mean, log_var = state.model.apply({'params': state.params}, x, method='encode')
    chex.assert_shape((mean, log_var), (3, 4))
    z = jnp.zeros((5, 3, 4))  # k samples per example
    out = state.model.apply({'params': state.params}, z, method='decode')
    if likelihood == 'bernoulli':
      chex.assert_shape(out, (5, 3, *SHAPE))
    else:
      chex.assert_shape(out, (5, 3, *SHAPE))
      chex.assert_shape(out[1], (5, 3, *SHAPE))
    chex.assert_shape(vae_step.decoder_log_prob(state, state.params)(z, x), (5, 3))

  def test_anchor_layout(self):
    model = vae_models.make_vae()
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)),
                        jnp.zeros((1, 50)))['params']
    kernels = jax.tree.map(lambda p: p.shape, params)
    self.assertEqual(kernels['encoder']['Dense_0']['kernel'], (784, 200))
    self.assertEqual(kernels['encoder']['Dense_1']['kernel'], (200, 200))
    self.assertEqual(kernels['encoder']['mean']['kernel'], (200, 50))
    self.assertEqual(kernels['decoder']['logits']['kernel'], (200, 784))

  def test_bad_options_are_errors(self):
    with self.assertRaisesRegex(ValueError, 'likelihood'):
      vae_models.make_vae(likelihood='poisson')
    with self.assertRaisesRegex(ValueError, 'divisible by 4'):
      vae_models.make_vae('conv', (30, 30, 1))


class StepTest(parameterized.TestCase):

  @parameterized.parameters('bernoulli', 'gaussian')
  def test_training_lowers_the_loss_without_retracing(self, likelihood):
    state = tiny_state(likelihood=likelihood)
    images = tiny_images()
    state, first = vae_step.train_step(state, images)
    cache = vae_step.train_step._cache_size()  # pylint: disable=protected-access
    for _ in range(150):
      state, metrics = vae_step.train_step(state, images)
    chex.assert_tree_all_finite(metrics)
    self.assertEqual(int(state.step), 151)
    self.assertEqual(vae_step.train_step._cache_size(), cache)  # pylint: disable=protected-access
    self.assertLess(float(metrics['loss']), float(first['loss']) - 1.0)
    np.testing.assert_allclose(metrics['loss'],
                               metrics['reconstruction'] + metrics['kl'], rtol=1e-5)

  def test_fused_steps_equal_as_many_single_steps(self):
    batches = jnp.stack([tiny_images(8, seed=s) for s in range(3)])
    single = tiny_state()
    losses = []
    for batch in batches:
      single, metrics = vae_step.train_step(single, batch)
      losses.append(metrics['loss'])
    fused, summed = vae_step.train_steps(tiny_state(), batches)
    self.assertEqual(int(fused.step), 3)
    chex.assert_trees_all_close(fused.params, single.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(summed['loss'], sum(losses), rtol=1e-5)

  def test_binarisation_is_drawn_anew_each_step(self):
    state = tiny_state()
    images = jnp.full((4, *SHAPE), 0.5)
    keys = [vae_step._step_keys(state.replace(step=jnp.int32(s)))[0]  # pylint: disable=protected-access
            for s in (0, 1)]
    a, b = (vae_step.prepare(state, k, images) for k in keys)
    self.assertTrue(set(np.unique(a)) <= {0.0, 1.0})
    self.assertFalse(np.array_equal(a, b))

  def test_chunked_nll_combines_chunks_exactly(self):
    state = tiny_state()
    images, key = tiny_images(5), jax.random.PRNGKey(3)
    nll = vae_step.importance_weighted_nll(state, images, key, num_samples=6, chunk=3)
    # The same six samples, combined by hand.
    data_key, sample_key = jax.random.split(key)
    x = vae_step.prepare(state, data_key, images)
    mean, log_var = state.model.apply({'params': state.params}, x, method='encode')
    log_prob = vae_step.decoder_log_prob(state, state.params)
    bounds = [vae_losses.importance_weighted_bound(jax.random.fold_in(sample_key, i),
                                                   x, mean, log_var, log_prob, 3)
              for i in range(2)]
    expected = -jax.nn.logsumexp(jnp.stack(bounds), axis=0) + jnp.log(2.0)
    np.testing.assert_allclose(nll, expected, rtol=1e-5)
    chex.assert_shape(nll, (5,))

  def test_more_samples_give_a_tighter_bound(self):
    state = tiny_state()
    images = tiny_images()
    for _ in range(100):
      state, _ = vae_step.train_step(state, images)
    key = jax.random.PRNGKey(7)
    one = vae_step.importance_weighted_nll(state, images, key, num_samples=1)
    many = vae_step.importance_weighted_nll(state, images, key, num_samples=200)
    self.assertLess(float(many.mean()), float(one.mean()))


if __name__ == '__main__':
  absltest.main()
