"""The fast layers compute exactly what Flax's SAME-padded layers compute.

SubpixelConvTranspose is nn.ConvTranspose in sub-pixel form (separate or combined
phases); StridedConv is nn.Conv with a sub-pixel input gradient.
"""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from vi_gen.models import layers
from vi_gen.models.layers import StridedConv, SubpixelConvTranspose


def _random_params(params, key):
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(
      tree, [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])


def _assert_same_layer(reference: nn.Module, fast: nn.Module, x: jax.Array):
  """Same parameter tree, outputs and gradients (random parameters); returns the output."""
  params = reference.init(jax.random.PRNGKey(1), x)
  # Same parameter tree, so checkpoints and initialisers carry over.
  chex.assert_trees_all_equal_shapes(params, fast.init(jax.random.PRNGKey(1), x))
  params = _random_params(params, jax.random.PRNGKey(2))

  expected, actual = reference.apply(params, x), fast.apply(params, x)
  chex.assert_trees_all_close(actual, expected, atol=1e-5, rtol=1e-5)
  cotangent = jax.random.normal(jax.random.PRNGKey(3), expected.shape)
  def loss(module):
    return lambda p, x: jnp.sum(module.apply(p, x) * cotangent)
  expected_grads = jax.grad(loss(reference), argnums=(0, 1))(params, x)
  actual_grads = jax.grad(loss(fast), argnums=(0, 1))(params, x)
  chex.assert_trees_all_close(actual_grads, expected_grads, atol=1e-4, rtol=1e-5)
  return actual


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
    out = _assert_same_layer(reference, subpixel, x)
    chex.assert_shape(out, (2, size * stride, (size + 1) * stride, 4))

  @parameterized.product(combined=(True, False), kernel=(5, 4, 2), stride=(2, 3))
  def test_both_phase_forms_equal_lax_conv_transpose(self, combined, kernel,
                                                     stride):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 4, 3))
    w = jax.random.normal(jax.random.PRNGKey(1), (kernel, kernel, 3, 2))
    strides = (stride, stride)
    expected = jax.lax.conv_transpose(x, w, strides, 'SAME',
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    fn = lambda x, w: layers.conv_transpose_same(x, w, strides, combined=combined)
    chex.assert_trees_all_close(fn(x, w), expected, atol=1e-5, rtol=1e-5)
    cotangent = jax.random.normal(jax.random.PRNGKey(2), expected.shape)
    ref_grads = jax.vjp(
        lambda x, w: jax.lax.conv_transpose(
            x, w, strides, 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')),
        x, w)[1](cotangent)
    chex.assert_trees_all_close(jax.vjp(fn, x, w)[1](cotangent), ref_grads,
                                atol=1e-4, rtol=1e-5)

  @parameterized.product(kernel=(5, 4, 2, 1), stride=(2, 3, 1), size=((7, 7), (4, 5)))
  def test_custom_vjp_equals_lax_conv_transpose_gradients(self, kernel, stride, size):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, *size, 3))
    w = jax.random.normal(jax.random.PRNGKey(1), (kernel, kernel, 3, 2))
    strides = (stride, stride)
    reference = lambda x, w: jax.lax.conv_transpose(
        x, w, strides, 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    expected, ref_vjp = jax.vjp(reference, x, w)
    actual, vjp = jax.vjp(lambda x, w: layers.conv_transpose(x, w, strides), x, w)
    chex.assert_trees_all_close(actual, expected, atol=1e-5, rtol=1e-5)
    cotangent = jax.random.normal(jax.random.PRNGKey(2), expected.shape)
    chex.assert_trees_all_close(vjp(cotangent), ref_vjp(cotangent),
                                atol=1e-4, rtol=1e-5)

  def test_kernel_gradient_is_a_strided_convolution_gradient(self):
    """The custom VJP is what runs: the kernel gradient dilates the window, not x."""
    x, w = jnp.ones((2, 7, 7, 16)), jnp.ones((5, 5, 16, 4))
    def kernel_grad_jaxpr(fn):
      return str(jax.make_jaxpr(jax.grad(lambda w: jnp.sum(fn(x, w))))(w))
    self.assertIn('rhs_dilation=(2, 2)', kernel_grad_jaxpr(
        lambda x, w: layers.conv_transpose(x, w, (2, 2))))
    self.assertNotIn('rhs_dilation=(2, 2)', kernel_grad_jaxpr(
        lambda x, w: layers.conv_transpose_same(x, w, (2, 2))))


class StridedConvTest(parameterized.TestCase):

  @parameterized.parameters(
      # The DCGAN discriminators' layers: 28→14 from 1 channel (XLA's own input
      # gradient), 14→7, and the 32/64 families' 16→8 and 8→4.
      (5, 2, 28, 1, True), (5, 2, 14, 16, False), (5, 2, 16, 16, True),
      (5, 2, 8, 32, False),
      # Other kernels and strides; sizes that the stride does not divide fall
      # back to XLA's own input gradient.
      (4, 2, 6, 8, True), (3, 2, 8, 8, False), (5, 3, 9, 8, True),
      (2, 3, 6, 8, True), (3, 1, 5, 8, True), (5, 2, 7, 8, True))
  def test_values_and_gradients_equal_conv(self, kernel, stride, size, channels,
                                           use_bias):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, channels))
    reference = nn.Conv(4, (kernel, kernel), (stride, stride), padding='SAME',
                        use_bias=use_bias)
    fast = StridedConv(4, (kernel, kernel), (stride, stride), use_bias=use_bias)
    _assert_same_layer(reference, fast, x)

  def test_input_gradient_is_computed_in_sub_pixel_form(self):
    """The custom VJP is what runs: no dilated-input convolution in the gradient."""
    x = jnp.ones((2, 8, 8, 16))
    w = jnp.ones((5, 5, 16, 4))
    grad = lambda fn: jax.grad(lambda x: jnp.sum(fn(x)))
    reference = lambda x: jax.lax.conv_general_dilated(
        x, w, (2, 2), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    fast = lambda x: layers.conv_same(x, w, (2, 2))
    self.assertIn('lhs_dilation=(2, 2)', str(jax.make_jaxpr(grad(reference))(x)))
    self.assertNotIn('lhs_dilation=(2, 2)', str(jax.make_jaxpr(grad(fast))(x)))


if __name__ == '__main__':
  absltest.main()
