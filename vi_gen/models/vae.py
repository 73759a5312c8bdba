"""VAE encoders and decoders: the published MLP anchor and a convolutional pair.

The anchor (Burda et al., 2015, one stochastic layer; docs/protocols.md) is
784-200-200-50: two tanh layers of 200 units to a diagonal Gaussian over
z ∈ R⁵⁰, and the mirror image back to 784 Bernoulli logits. The convolutional
pair uses the same fast stride-2 layers as the DCGANs.

Encoders return ``(mean, log_var)`` of p(z|x). Decoders return Bernoulli logits,
or, with ``likelihood='gaussian'``, ``(mean, log_var)`` of a diagonal Gaussian
q(x|z) with a learned per-pixel log-variance.
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from vi_gen.models.layers import StridedConv, SubpixelConvTranspose

LIKELIHOODS = ('bernoulli', 'gaussian')


def _gaussian_head(h: jax.Array, features: int) -> tuple[jax.Array, jax.Array]:
  return nn.Dense(features, name='mean')(h), nn.Dense(features, name='log_var')(h)


class MLPEncoder(nn.Module):
  """x [B, ...] → (mean, log_var) [B, latent]."""
  hidden: Sequence[int] = (200, 200)
  latent_dim: int = 50

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      h = jnp.tanh(nn.Dense(width)(h))
    return _gaussian_head(h, self.latent_dim)


class MLPDecoder(nn.Module):
  """z [..., latent] → logits (or mean, log_var) [..., *image_shape]."""
  image_shape: Sequence[int] = (28, 28, 1)
  hidden: Sequence[int] = (200, 200)
  likelihood: str = 'bernoulli'

  @nn.compact
  def __call__(self, z: jax.Array):
    h = z
    for width in reversed(self.hidden):
      h = jnp.tanh(nn.Dense(width)(h))
    size = math.prod(self.image_shape)
    shape = (*z.shape[:-1], *self.image_shape)
    if self.likelihood == 'bernoulli':
      return nn.Dense(size, name='logits')(h).reshape(shape)
    mean, log_var = _gaussian_head(h, size)
    return mean.reshape(shape), log_var.reshape(shape)


class ConvEncoder(nn.Module):
  """28×28 (or 32×32) images → (mean, log_var): two 5×5 stride-2 convolutions."""
  width: int = 32
  latent_dim: int = 50

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = x
    for i in range(2):
      h = nn.relu(StridedConv(self.width * 2 ** i, (5, 5), (2, 2),
                              name=f'Conv_{i}')(h))
    return _gaussian_head(h.reshape(h.shape[0], -1), self.latent_dim)


class ConvDecoder(nn.Module):
  """z → images: dense to (size/4)² × 2·width, two 5×5 stride-2 transposed convs."""
  image_shape: Sequence[int] = (28, 28, 1)
  width: int = 32
  likelihood: str = 'bernoulli'

  @nn.compact
  def __call__(self, z: jax.Array):
    lead = z.shape[:-1]
    z = z.reshape(-1, z.shape[-1])
    side = self.image_shape[0] // 4
    h = nn.relu(nn.Dense(side * side * 2 * self.width)(z))
    h = h.reshape(-1, side, side, 2 * self.width)
    h = nn.relu(SubpixelConvTranspose(self.width, (5, 5), (2, 2))(h))
    channels = self.image_shape[-1]
    out = SubpixelConvTranspose(
        channels * (1 if self.likelihood == 'bernoulli' else 2), (5, 5), (2, 2))(h)
    out = out.reshape(*lead, *out.shape[1:])
    if self.likelihood == 'bernoulli':
      return out
    return out[..., :channels], out[..., channels:]


class VAE(nn.Module):
  """An encoder p(z|x) and a decoder q(x|z) under one parameter tree."""
  encoder: nn.Module
  decoder: nn.Module

  def __call__(self, x: jax.Array, z: jax.Array):
    """Both networks (used to initialise): the encoding of x and the decoding of z."""
    return self.encoder(x), self.decoder(z)

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return self.encoder(x)

  def decode(self, z: jax.Array):
    return self.decoder(z)


def make_vae(architecture: str = 'mlp', image_shape: Sequence[int] = (28, 28, 1),
             latent_dim: int = 50, likelihood: str = 'bernoulli',
             hidden: Sequence[int] = (200, 200), width: int = 32) -> VAE:
  """``'mlp'`` (the 784-200-200-50 anchor by default) or ``'conv'``."""
  if likelihood not in LIKELIHOODS:
    raise ValueError(f'likelihood must be one of {LIKELIHOODS}, got {likelihood!r}')
  image_shape = tuple(image_shape)
  if architecture == 'mlp':
    return VAE(MLPEncoder(tuple(hidden), latent_dim),
               MLPDecoder(image_shape, tuple(hidden), likelihood))
  if architecture == 'conv':
    if image_shape[0] % 4 or image_shape[1] % 4:
      raise ValueError(f'the conv VAE needs sides divisible by 4, got {image_shape}')
    return VAE(ConvEncoder(width, latent_dim),
               ConvDecoder(image_shape, width, likelihood))
  raise ValueError(f"architecture must be 'mlp' or 'conv', got {architecture!r}")
