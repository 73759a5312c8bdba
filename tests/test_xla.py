"""vi_gen.xla.jit is jax.jit with vi_gen's compiler options, built at first use."""

import functools
import os
from unittest import mock

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp
import numpy as np

from vi_gen import xla


def _layer(x, w):
  return jnp.tanh(x @ w) @ w.T


class JitTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.x = jax.random.normal(jax.random.PRNGKey(0), (64, 128))
    self.w = jax.random.normal(jax.random.PRNGKey(1), (128, 128)) / 10

  def test_same_values_as_jax_jit(self):
    chex.assert_trees_all_close(xla.jit(_layer)(self.x, self.w),
                                jax.jit(_layer)(self.x, self.w), atol=1e-5)

  def _skip_unless_default_ynnpack(self):
    if jax.default_backend() != 'cpu':
      self.skipTest('xla_cpu_experimental_ynn_fusion_type is an XLA:CPU option; '
                    'vi_gen sets no options on other backends')
    if 'xla_cpu_experimental_ynn_fusion_type' in os.environ.get('XLA_FLAGS', ''):
      self.skipTest('XLA_FLAGS sets xla_cpu_experimental_ynn_fusion_type, which '
                    'vi_gen then leaves alone (test_xla_flags_take_precedence)')
    default = jax.jit(_layer).lower(self.x, self.w).compile().as_text()
    if 'ynn_fusion' not in default:
      self.skipTest('this jaxlib does not fuse into YNNPACK by default, so there '
                    'is no YNNPACK reduction to keep or dot to take back')

  def test_cpu_compiles_dots_with_xla_and_reductions_with_ynnpack(self):
    self._skip_unless_default_ynnpack()
    self.assertEqual(xla.compiler_options(),
                     {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_REDUCE'})
    ours = xla.jit(_layer).lower(self.x, self.w).compile().as_text()
    self.assertNotIn('ynn_fusion', ours)
    summed = xla.jit(lambda x: jnp.sum(x * 2.0, axis=0)).lower(self.x).compile()
    self.assertIn('ynn_fusion', summed.as_text())

  def test_a_long_float32_sum_is_accurate(self):
    # A convolution bias's gradient: a sum over batch × height × width. On this
    # input XLA's own CPU reduction is off the float64 sum by 1.1e-6 (relative);
    # YNNPACK's by 5e-8.
    self._skip_unless_default_ynnpack()
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 14, 14, 8)) + 1.0
    exact = np.asarray(x, np.float64).sum((0, 1, 2))
    ours = np.asarray(xla.jit(lambda x: x.sum((0, 1, 2)))(x), np.float64)
    self.assertLess(np.abs(ours - exact).max() / np.abs(exact).max(), 3e-7)

  def test_xla_flags_take_precedence(self):
    xla.compiler_options.cache_clear()
    self.addCleanup(xla.compiler_options.cache_clear)
    flags = os.environ.get('XLA_FLAGS', '') + ' --xla_cpu_experimental_ynn_fusion_type=dot'
    with mock.patch.dict(os.environ, {'XLA_FLAGS': flags}):
      self.assertEqual(xla.compiler_options(), {})

  def test_keyword_arguments_and_attributes_reach_jax_jit(self):
    @functools.partial(xla.jit, static_argnames=('power',), donate_argnums=0)
    def scaled(x, power):
      """Doc."""
      return x ** power

    self.assertEqual((scaled.__name__, scaled.__doc__), ('scaled', 'Doc.'))
    chex.assert_trees_all_close(scaled(jnp.full((3,), 2.0), power=3),
                                jnp.full((3,), 8.0))
    compiled = scaled.lower(jnp.ones(3), power=3).compile()
    chex.assert_trees_all_close(compiled(jnp.full((3,), 2.0)), jnp.full((3,), 8.0))
    donated = jnp.ones(3)
    scaled(donated, power=2)
    self.assertTrue(donated.is_deleted())
    with self.assertRaises(AttributeError):
      scaled.no_such_attribute  # pylint: disable=pointless-statement


if __name__ == '__main__':
  absltest.main()
