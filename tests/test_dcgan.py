"""DCGAN shapes at 28/32/64, with and without BatchNorm, and BatchNorm's two modes."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from vi_gen.models.dcgan import DCGANDiscriminator, DCGANGenerator
from vi_gen.training.state import apply_model

WIDTH = 4  # the paper's 64, scaled down: the layout does not depend on it


class DCGANTest(parameterized.TestCase):

  @parameterized.product(size_channels=((28, 1), (28, 3), (32, 3), (64, 3)),
                         batch_norm=(True, False))
  def test_shapes_and_range(self, size_channels, batch_norm):
    size, channels = size_channels
    g = DCGANGenerator(size, channels, WIDTH, batch_norm)
    d = DCGANDiscriminator(size, WIDTH, batch_norm)
    z = jax.random.normal(jax.random.PRNGKey(0), (3, 10))
    g_vars = g.init(jax.random.PRNGKey(1), z, train=False)
    images = g.apply(g_vars, z, train=False)
    chex.assert_shape(images, (3, size, size, channels))
    self.assertLessEqual(float(jnp.abs(images).max()), 1.0)
    d_vars = d.init(jax.random.PRNGKey(2), images, train=False)
    chex.assert_shape(d.apply(d_vars, images, train=False), (3,))
    self.assertEqual('batch_stats' in g_vars, batch_norm)
    self.assertEqual('batch_stats' in d_vars, batch_norm)

  @parameterized.parameters((28, 1), (32, 3), (64, 3))
  def test_fast_layers_equal_flax_layers(self, size, channels):
    """Values and gradients of both networks equal those built from nn.Conv(Transpose)."""
    z = jax.random.normal(jax.random.PRNGKey(0), (4, 10))
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, size, size, channels),
                           minval=-1, maxval=1)
    width = 8  # >= the sub-pixel input gradient's channel threshold
    for make, inputs in (
        (lambda fast: DCGANGenerator(size, channels, width, fast_layers=fast), z),
        (lambda fast: DCGANDiscriminator(size, width, fast_layers=fast), x)):
      fast, reference = make(True), make(False)
      variables = reference.init(jax.random.PRNGKey(2), inputs)
      chex.assert_trees_all_equal_structs(
          variables, fast.init(jax.random.PRNGKey(2), inputs))
      out = lambda m: lambda p, v: apply_model(m, p, variables['batch_stats'], v,
                                               train=True)[0]
      chex.assert_trees_all_close(out(fast)(variables['params'], inputs),
                                  out(reference)(variables['params'], inputs),
                                  atol=1e-5, rtol=1e-5)
      cotangent = jax.random.normal(jax.random.PRNGKey(3),
                                    out(reference)(variables['params'], inputs).shape)
      grads = lambda m: jax.grad(
          lambda p, v: jnp.sum(out(m)(p, v) * cotangent), argnums=(0, 1))(
              variables['params'], inputs)
      chex.assert_trees_all_close(grads(fast), grads(reference), atol=1e-4,
                                  rtol=1e-4)

  def test_paper_layout_at_64(self):
    g_vars = DCGANGenerator(64, 3, 64).init(jax.random.PRNGKey(0),
                                            jnp.zeros((1, 100)), train=False)
    kernels = [p['kernel'].shape for p in g_vars['params'].values()
               if 'kernel' in p]
    self.assertEqual(kernels, [(100, 4 * 4 * 512), (5, 5, 512, 256),
                               (5, 5, 256, 128), (5, 5, 128, 64), (5, 5, 64, 3)])
    d_vars = DCGANDiscriminator(64, 64).init(jax.random.PRNGKey(0),
                                             jnp.zeros((1, 64, 64, 3)), train=False)
    kernels = [p['kernel'].shape for p in d_vars['params'].values()
               if 'kernel' in p]
    self.assertEqual(kernels, [(5, 5, 3, 64), (5, 5, 64, 128), (5, 5, 128, 256),
                               (5, 5, 256, 512), (4 * 4 * 512, 1)])
    # N(0, 0.02) initialisation.
    self.assertAlmostEqual(float(jnp.std(g_vars['params']['Dense_0']['kernel'])),
                           0.02, delta=0.001)

  def test_batch_norm_updates_in_training_and_is_used_in_evaluation(self):
    g = DCGANGenerator(28, 1, WIDTH, batch_norm=True)
    z = jax.random.normal(jax.random.PRNGKey(0), (16, 10))
    variables = g.init(jax.random.PRNGKey(1), z, train=False)
    params, stats = variables['params'], variables['batch_stats']
    _, new_stats = apply_model(g, params, stats, z, train=True)
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), stats, new_stats)
    self.assertTrue(all(jax.tree.leaves(changed)))
    # Evaluation reads the running statistics; training mode does not.
    eval_old, _ = apply_model(g, params, stats, z, train=False)
    eval_new, kept = apply_model(g, params, new_stats, z, train=False)
    self.assertGreater(float(jnp.abs(eval_old - eval_new).max()), 1e-4)
    chex.assert_trees_all_equal(kept, new_stats)
    train_old, _ = apply_model(g, params, stats, z, train=True)
    train_new, _ = apply_model(g, params, new_stats, z, train=True)
    np.testing.assert_array_equal(train_old, train_new)

  def test_wrong_image_size_is_an_error(self):
    with self.assertRaisesRegex(ValueError, 'image sizes'):
      DCGANGenerator(48).init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))


if __name__ == '__main__':
  absltest.main()
