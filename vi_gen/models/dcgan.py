"""DCGAN generator and discriminator, as in the paper's code, at 28, 32 and 64 pixels.

The paper's experiments (its code is LynnHo's DCGAN-LSGAN-WGAN-WGAN-GP-Tensorflow,
``models_64x64.py``) use, for 64×64 images and ``width = 64``:

* G: dense(z) → 4×4×(8·width) → BN, ReLU; then 5×5 stride-2 transposed
  convolutions with 4·width, 2·width, width channels (each BN, ReLU) and a last
  one to the image's channels with tanh.
* D: 5×5 stride-2 convolutions with width (leaky ReLU 0.2, no BN), 2·width,
  4·width, 8·width (each BN, leaky ReLU 0.2); then a dense logit.

Transposed convolutions are ``SubpixelConvTranspose`` and convolutions
``StridedConv``: the same functions, gradients and parameters as
``nn.ConvTranspose``/``nn.Conv`` with ``padding='SAME'``, computed faster on CPU
(``vi_gen/models/layers.py``). ``fast_layers=False`` uses Flax's layers instead,
with the same parameter tree: the reference for tests and benchmarks, and an
option for a backend where those are faster.
Weights are drawn from N(0, 0.02); BatchNorm has decay 0.9 and ε = 1e-5, and a
layer followed by BatchNorm has no bias. With ``batch_norm=False`` every layer has
a bias instead (experiment 2).

The same family at other sizes keeps the pattern and changes the number of
stride-2 layers: 28×28 starts G at 7×7×(2·width) and has two up-sampling layers
(D: width, 2·width); 32×32 starts at 4×4×(4·width) with three (D: width, 2·width,
4·width); 64×64 has four.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from vi_gen.models.layers import StridedConv, SubpixelConvTranspose

# image size -> (spatial size of G's first feature map, number of stride-2 layers)
_LAYOUT = {28: (7, 2), 32: (4, 3), 64: (4, 4)}
SUPPORTED_SIZES = tuple(sorted(_LAYOUT))

_INIT = nn.initializers.normal(0.02)


def _layout(image_size: int) -> tuple[int, int]:
  if image_size not in _LAYOUT:
    raise ValueError(f'DCGAN supports image sizes {SUPPORTED_SIZES}, '
                     f'got {image_size}')
  return _LAYOUT[image_size]


def _conv_transpose(fast: bool):
  """5×5 stride-2 'SAME' transposed convolutions: the fast form or Flax's own."""
  if fast:
    return functools.partial(SubpixelConvTranspose, kernel_size=(5, 5),
                             strides=(2, 2), kernel_init=_INIT)
  return functools.partial(nn.ConvTranspose, kernel_size=(5, 5), strides=(2, 2),
                           padding='SAME', kernel_init=_INIT)


def _conv(fast: bool):
  """5×5 stride-2 'SAME' convolutions: the fast form or Flax's own."""
  if fast:
    return functools.partial(StridedConv, kernel_size=(5, 5), strides=(2, 2),
                             kernel_init=_INIT)
  return functools.partial(nn.Conv, kernel_size=(5, 5), strides=(2, 2),
                           padding='SAME', kernel_init=_INIT)


def _batch_norm(train: bool) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


class DCGANGenerator(nn.Module):
  """z [B, latent] → images [B, size, size, channels] in [−1, 1]."""
  image_size: int = 64
  channels: int = 3
  width: int = 64
  batch_norm: bool = True
  fast_layers: bool = True

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    start, num_up = _layout(self.image_size)
    bias = not self.batch_norm

    def norm_relu(x):
      if self.batch_norm:
        x = _batch_norm(train)(x)
      return nn.relu(x)

    features = self.width * 2 ** (num_up - 1)
    x = nn.Dense(start * start * features, use_bias=bias, kernel_init=_INIT)(z)
    x = norm_relu(x.reshape(z.shape[0], start, start, features))
    conv_t = _conv_transpose(self.fast_layers)
    for i in range(num_up - 1):
      x = conv_t(self.width * 2 ** (num_up - 2 - i), use_bias=bias,
                 name=f'SubpixelConvTranspose_{i}')(x)
      x = norm_relu(x)
    x = conv_t(self.channels, use_bias=True,
               name=f'SubpixelConvTranspose_{num_up - 1}')(x)
    return jnp.tanh(x)


def dcgan_features(x: jax.Array, *, image_size: int, width: int,
                   batch_norm: bool, fast_layers: bool, train: bool) -> jax.Array:
  """D's convolutional trunk, flattened: ``[B, size, size, C]`` → ``[B, features]``.

  Call it inside a module's compact method; its layers (``Conv_i`` and
  BatchNorm) belong to that module. Shared by the discriminator, the ALI/AAE
  encoder and the joint discriminator (``vi_gen/models/encoders.py``).
  """
  _, num_down = _layout(image_size)
  if x.shape[1:3] != (image_size, image_size):
    raise ValueError(f'expected {image_size}×{image_size} images, '
                     f'got shape {x.shape}')
  for i in range(num_down):
    normalise = batch_norm and i > 0
    x = _conv(fast_layers)(width * 2 ** i, use_bias=not normalise,
                           name=f'Conv_{i}')(x)
    if normalise:
      x = _batch_norm(train)(x)
    x = nn.leaky_relu(x, 0.2)
  return x.reshape(x.shape[0], -1)


class DCGANDiscriminator(nn.Module):
  """images [B, size, size, channels] → logits [B] of D(x) = p(real | x)."""
  image_size: int = 64
  width: int = 64
  batch_norm: bool = True
  fast_layers: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    x = dcgan_features(x, image_size=self.image_size, width=self.width,
                       batch_norm=self.batch_norm, fast_layers=self.fast_layers,
                       train=train)
    return nn.Dense(1, kernel_init=_INIT)(x)[:, 0]
