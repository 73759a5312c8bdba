"""SubpixelConvTranspose computes exactly nn.ConvTranspose(padding='SAME')."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from vi_gen.models.layers import SubpixelConvTranspose


def _random_params(params, key):
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(
      tree, [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])


class SubpixelConvTransposeTest(parameterized.TestCase):

  @parameterized.parameters(
      # The DCGAN layers: 5×5 stride 2 from 7 (28×28 family), 4 and 8 (32/64).
      (5, 2, 7, True), (5, 2, 4, False), (5, 2, 8, True),
      # Other kernels and strides, including kernels smaller than the stride.
      (4, 2, 5, True), (3, 2, 6, False), (5, 3, 4, True), (2, 3, 3, True),
      (3, 1, 5, True))
  def test_values_and_gradients_equal_conv_transpose(self, kernel, stride, size,
                                                     use_bias):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size + 1, 3))
    reference = nn.ConvTranspose(4, (kernel, kernel), (stride, stride),
                                 padding='SAME', use_bias=use_bias)
    subpixel = SubpixelConvTranspose(4, (kernel, kernel), (stride, stride),
                                     use_bias=use_bias)
    params = reference.init(jax.random.PRNGKey(1), x)
    # Same parameter tree, so checkpoints and initialisers carry over.
    chex.assert_trees_all_equal_shapes(params, subpixel.init(jax.random.PRNGKey(1), x))
    params = _random_params(params, jax.random.PRNGKey(2))

    expected, actual = reference.apply(params, x), subpixel.apply(params, x)
    chex.assert_shape(actual, (2, size * stride, (size + 1) * stride, 4))
    chex.assert_trees_all_close(actual, expected, atol=1e-5, rtol=1e-5)

    cotangent = jax.random.normal(jax.random.PRNGKey(3), expected.shape)
    def loss(module):
      return lambda p, x: jnp.sum(module.apply(p, x) * cotangent)
    expected_grads = jax.grad(loss(reference), argnums=(0, 1))(params, x)
    actual_grads = jax.grad(loss(subpixel), argnums=(0, 1))(params, x)
    chex.assert_trees_all_close(actual_grads, expected_grads, atol=1e-4, rtol=1e-5)


if __name__ == '__main__':
  absltest.main()
