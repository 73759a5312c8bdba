"""Layers computed in a faster but exactly equivalent form.

:class:`SubpixelConvTranspose` is ``nn.ConvTranspose(..., padding='SAME')`` with the
same parameters (names, shapes, initialisers) and the same function, computed as
``stride²`` ordinary stride-1 convolutions whose outputs interleave ("sub-pixel"
form). XLA on CPU computes the kernel gradient of a dilated-input convolution
slowly: for the 28×28 DCGAN's 7→14 layer it took about 200 ms forward and
backward, against about 30 ms in this form. Nothing is approximated: every output
pixel sums exactly the products that ``lax.conv_transpose`` sums.

Its backward pass is a custom VJP (:func:`conv_transpose`): the input gradient
is XLA's own, an ordinary strided convolution, and the kernel gradient is that
of an ordinary strided convolution of the output gradient
(:func:`conv_transpose_kernel_grad`), both faster than the sub-pixel form's.

:class:`StridedConv` is ``nn.Conv(..., padding='SAME')`` whose *input gradient*
(itself a transposed convolution) is computed in sub-pixel form, through a custom
VJP.
"""

import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def _same_transpose_pad(kernel: int, stride: int) -> int:
  """Low-side padding of the dilated input in ``lax.conv_transpose(..., 'SAME')``."""
  if stride > kernel - 1:
    return kernel - 1
  return -(-(kernel + stride - 2) // 2)  # ceil


def _same_conv_pad(size: int, kernel: int, stride: int) -> int:
  """Low-side padding of ``lax.conv_general_dilated(..., padding='SAME')``."""
  out = -(-size // stride)
  return max((out - 1) * stride + kernel - size, 0) // 2


# For one spatial dimension and one output phase: the kernel taps that phase
# uses (a slice, possibly reversed) and how far its stride-1 correlation's
# window starts below the phase's output index (the low padding; negative crops).
PhaseSpec = Callable[[int, int], tuple[slice, int]]


def _subpixel(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
              phase_spec: PhaseSpec) -> jax.Array:
  """``stride²`` stride-1 correlations of ``x`` whose outputs interleave.

  Phase ``(p_h, p_w)`` of the output (pixels ``s·m + p``) is an ordinary
  correlation of ``x`` with the taps ``phase_spec(dim, p)`` selects; every
  phase is as large as ``x`` spatially, so the output is ``stride`` times larger.
  """
  batch, height, width, _ = x.shape
  phases = []
  for p_h in range(strides[0]):
    row = []
    for p_w in range(strides[1]):
      taps, padding = [], []
      for dim, p in ((0, p_h), (1, p_w)):
        tap, low = phase_spec(dim, p)
        n_taps = len(range(kernel.shape[dim])[tap])
        taps.append(tap)
        # Phase output m reads x[m - low + v] for v < n_taps.
        padding.append((low, n_taps - 1 - low))
      sub_kernel = kernel[taps[0], taps[1]]
      if 0 in sub_kernel.shape[:2]:
        row.append(jnp.zeros((batch, height, width, kernel.shape[-1]), x.dtype))
        continue
      row.append(jax.lax.conv_general_dilated(
          x, sub_kernel, window_strides=(1, 1), padding=padding,
          dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
    phases.append(jnp.stack(row, axis=3))  # [B, H, W, s_w, C]
  y = jnp.stack(phases, axis=2)  # [B, H, s_h, W, s_w, C]
  return y.reshape(batch, height * strides[0], width * strides[1], -1)


def _combined_phases(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
                     phase_spec: PhaseSpec) -> jax.Array:
  """:func:`_subpixel`'s result as one convolution with ``stride²`` times the channels.

  Every phase's taps are placed, zero-padded, in the window that covers them
  all; one stride-1 convolution computes all phases as channel groups, which a
  depth-to-space reshape interleaves. More multiply-adds (the zero taps), but
  one large convolution instead of ``stride²`` narrow ones: faster where the
  output has few channels.
  """
  specs = [[phase_spec(dim, p) for p in range(strides[dim])] for dim in (0, 1)]
  low = [max(l for _, l in specs[dim]) for dim in (0, 1)]
  window = [low[dim] + max(len(range(kernel.shape[dim])[tap]) - l
                           for tap, l in specs[dim]) for dim in (0, 1)]
  groups = []
  for tap_h, low_h in specs[0]:
    for tap_w, low_w in specs[1]:
      sub = kernel[tap_h, tap_w]
      pad = [(low[0] - low_h, window[0] - low[0] + low_h - sub.shape[0]),
             (low[1] - low_w, window[1] - low[1] + low_w - sub.shape[1])]
      groups.append(jnp.pad(sub, [*pad, (0, 0), (0, 0)]))
  combined = jnp.stack(groups, axis=3)  # [wh, ww, in, s_h·s_w, out]
  y = jax.lax.conv_general_dilated(
      x, combined.reshape(*combined.shape[:3], -1), window_strides=(1, 1),
      padding=[(low[d], window[d] - 1 - low[d]) for d in (0, 1)],
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  batch, height, width, _ = x.shape
  y = y.reshape(batch, height, width, strides[0], strides[1], -1)
  y = y.transpose(0, 1, 3, 2, 4, 5)  # [B, H, s_h, W, s_w, C]
  return y.reshape(batch, height * strides[0], width * strides[1], -1)


# Output channels × stride² up to which one combined convolution beats stride²
# separate ones (measured on CPU for the DCGAN layers: 7→14 with 64 channels and
# 32→64 with 3 are faster combined, 4→8 with 256 separate).
_MAX_COMBINED_CHANNELS = 256


def conv_transpose_same(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
                        combined: bool | None = None) -> jax.Array:
  """``lax.conv_transpose(x, kernel, strides, 'SAME')`` (NHWC, HWIO), sub-pixel form.

  Output pixel ``o = s·m + p`` of the transposed convolution reads the dilated
  input at ``o + t − pad``; only taps ``t`` with ``p + t − pad ≡ 0 (mod s)`` hit
  a real input pixel, at ``m + u + c`` for ``t = s·u + q``. So phase ``p`` is an
  ordinary correlation of ``x`` with the kernel taps ``q, q + s, …``, shifted by
  ``c``; the ``s²`` phases interleave into the output.

  Args:
    x, kernel, strides: as for ``lax.conv_transpose``.
    combined: compute the phases as one convolution (:func:`_combined_phases`)
      rather than one each; by default, when the output has few channels.
  """
  def phase_spec(dim, p):
    k, s = kernel.shape[dim], strides[dim]
    pad = _same_transpose_pad(k, s)
    q = (pad - p) % s
    return slice(q, k, s), -((p + q - pad) // s)
  if combined is None:
    combined = kernel.shape[-1] * strides[0] * strides[1] <= _MAX_COMBINED_CHANNELS
  return (_combined_phases if combined else _subpixel)(x, kernel, strides,
                                                       phase_spec)


def _conv_transpose_native(x: jax.Array, kernel: jax.Array,
                           strides: Sequence[int]) -> jax.Array:
  return jax.lax.conv_transpose(x, kernel, strides, 'SAME',
                                dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def conv_transpose_kernel_grad(x: jax.Array, dy: jax.Array,
                               kernel_shape: Sequence[int],
                               strides: Sequence[int]) -> jax.Array:
  """The kernel gradient of ``lax.conv_transpose(x, w, strides, 'SAME')`` at ``dy``.

  Output pixel ``o`` sums ``x[m]·w[t]`` over ``o = s·m + P − t`` (``P`` the low
  padding of the dilated input), so ``dw[t] = Σ_m x[m] ⊗ dy[s·m + P − t]``. With
  ``t' = k − 1 − t`` that is ``Σ_m dy[s·m + t' − (k − 1 − P)] ⊗ x[m]``: the kernel
  gradient of an ordinary stride-``s`` convolution of ``dy`` with low padding
  ``k − 1 − P``, taken at output gradient ``x``, then flipped and with its
  channel axes swapped. XLA computes that one quickly; the gradient it derives
  itself, a convolution of the dilated ``x``, took 116 ms for the 28×28 DCGAN's
  7→14 layer (batch 64, 2 CPU cores) against about 4 ms in this form.
  """
  padding = []
  for dim in (0, 1):
    k, s = kernel_shape[dim], strides[dim]
    low = k - 1 - _same_transpose_pad(k, s)
    # The strided convolution's output must have exactly x's size.
    padding.append((low, (x.shape[1 + dim] - 1) * s + k - dy.shape[1 + dim] - low))
  k_h, k_w, c_in, c_out = kernel_shape
  def conv(v):
    return jax.lax.conv_general_dilated(dy, v, strides, padding,
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  dv, = jax.linear_transpose(
      conv, jax.ShapeDtypeStruct((k_h, k_w, c_out, c_in), dy.dtype))(
          x.astype(dy.dtype))
  return jnp.flip(dv, (0, 1)).swapaxes(2, 3)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_transpose(x: jax.Array, kernel: jax.Array, strides: tuple) -> jax.Array:
  """``lax.conv_transpose(x, kernel, strides, 'SAME')`` (NHWC, HWIO), fast on CPU.

  Forward in sub-pixel form (:func:`conv_transpose_same`). Backward: the input
  gradient is XLA's own, which it computes as an ordinary strided convolution;
  the kernel gradient is :func:`conv_transpose_kernel_grad`. Both beat the
  gradients of the sub-pixel form (for the 28×28 DCGAN's 7→14 layer on CPU,
  about 8 ms against 12 for the two together).
  """
  return conv_transpose_same(x, kernel, strides)


def _conv_transpose_fwd(x, kernel, strides):
  return conv_transpose_same(x, kernel, strides), (x, kernel)


def _conv_transpose_bwd(strides, residuals, dy):
  x, kernel = residuals
  dx, = jax.linear_transpose(
      lambda v: _conv_transpose_native(v, kernel, strides), x)(dy)
  return dx, conv_transpose_kernel_grad(x, dy, kernel.shape, strides).astype(
      kernel.dtype)


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def conv_same_input_grad(dy: jax.Array, kernel: jax.Array, strides: Sequence[int],
                         input_shape: Sequence[int]) -> jax.Array:
  """The input gradient of a stride-``s`` 'SAME' convolution, sub-pixel form.

  For ``y[m] = Σ_t x[s·m + t − pad]·w[t]``, input pixel ``i = s·a + r`` receives
  ``dy[m]·wᵀ[t]`` from every ``(m, t)`` with ``s·m + t − pad = i``: the taps
  ``t = s·u + q`` with ``q ≡ r + pad (mod s)``, at ``m = a − u + c``. So phase
  ``r`` is a correlation of ``dy`` with those taps reversed. Requires every
  input size to be a multiple of its stride (then ``dy`` is ``1/s`` its size).
  """
  def phase_spec(dim, r):
    k, s = kernel.shape[dim], strides[dim]
    pad = _same_conv_pad(input_shape[1 + dim], k, s)
    q = (r + pad) % s
    n_taps = len(range(q, k, s))
    if n_taps == 0:
      return slice(0, 0), 0
    c = (r + pad - q) // s
    last = q + s * (n_taps - 1)
    return slice(last, q - 1 if q else None, -s), n_taps - 1 - c
  return _subpixel(dy, jnp.swapaxes(kernel, 2, 3), strides, phase_spec)


def _conv_same(x: jax.Array, kernel: jax.Array, strides: tuple) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, strides, 'SAME',
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


_MIN_SUBPIXEL_CHANNELS = 8


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_same(x: jax.Array, kernel: jax.Array, strides: tuple) -> jax.Array:
  """``lax.conv_general_dilated(x, kernel, strides, 'SAME')`` (NHWC, HWIO).

  The same forward pass and kernel gradient as XLA's; the input gradient, a
  transposed convolution, is computed in sub-pixel form
  (:func:`conv_same_input_grad`) where the sizes allow. On CPU XLA took 2.5 s
  for that gradient in the 64×64 discriminator's last layer (8×8×256 → 4×4×512,
  batch 64); the sub-pixel form takes a few tens of milliseconds.
  """
  return _conv_same(x, kernel, strides)


def _conv_same_fwd(x, kernel, strides):
  return _conv_same(x, kernel, strides), (x, kernel)


def _conv_same_bwd(strides, residuals, dy):
  x, kernel = residuals
  _, kernel_vjp = jax.vjp(lambda w: _conv_same(x, w, strides), kernel)
  # Few input channels (an RGB image) leave each phase's correlation too few
  # output channels to be efficient; XLA's own form is then the faster one.
  if (x.shape[-1] >= _MIN_SUBPIXEL_CHANNELS
      and all(size % s == 0 for size, s in zip(x.shape[1:3], strides))):
    dx = conv_same_input_grad(dy, kernel, strides, x.shape)
  else:
    _, input_vjp = jax.vjp(lambda v: _conv_same(v, kernel, strides), x)
    dx, = input_vjp(dy)
  return dx, kernel_vjp(dy)[0]


conv_same.defvjp(_conv_same_fwd, _conv_same_bwd)


class _KernelLayer(nn.Module):
  """A layer ``y = self.op(x, kernel) + bias`` with Flax's conv parameter tree.

  Subclasses define ``op(x, kernel)``.
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int]
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init,
                        (*self.kernel_size, x.shape[-1], self.features))
    y = self.op(x, kernel.astype(x.dtype))
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,)).astype(y.dtype)
    return y


class StridedConv(_KernelLayer):
  """Drop-in for ``nn.Conv(features, kernel_size, strides, padding='SAME')``.

  Same parameter tree, outputs and gradients (tests/test_layers.py); the input
  gradient is computed by :func:`conv_same`. Give ``name='Conv_i'`` to keep the
  parameter paths of a network built with ``nn.Conv``.
  """

  def op(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
    return conv_same(x, kernel, tuple(self.strides))


class SubpixelConvTranspose(_KernelLayer):
  """Drop-in for ``nn.ConvTranspose(features, kernel_size, strides, padding='SAME')``.

  Same parameter tree (``kernel`` [kh, kw, in, out], optional ``bias``), same
  outputs and gradients (tests/test_layers.py checks both against
  ``nn.ConvTranspose``), computed by :func:`conv_transpose`.
  """

  def op(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
    return conv_transpose(x, kernel, tuple(self.strides))
