"""Encoders and discriminators for the AAE and ALI (arXiv 1807.05936, eqs. 30–43).

* Encoders E(x) → z: :class:`~vi_gen.models.mlp2d.MLPGenerator` serves for 2D
  data (the same MLP, with ``out_dim`` = the latent size), and
  :class:`DCGANEncoder` (the DCGAN discriminator's convolutional trunk, then a
  dense layer to z) for images.
* :class:`GaussianOutput` turns a deterministic network into a reparameterised
  Gaussian one, for ALI's stochastic encoder or generator options.
* :class:`NoiseInputEncoder` makes E stochastic the other way, through its
  input: E(x, ε) with ε ~ N(0, I) beside x (PacGAN's 2D ALI encoder).
* The AAE's latent discriminator D(z) is a
  :class:`~vi_gen.models.mlp2d.MaxoutDiscriminator` on codes.
* ALI's joint discriminators D(x, z) embed x and z separately, then join them:
  :class:`JointMaxoutDiscriminator` for 2D (or, with ``embed=False``, join the
  raw x and z as PacGAN's 2D ALI does), :class:`JointDCGANDiscriminator` for
  images.

All weights start from N(0, 0.02²) like the GAN networks; every module takes
``train`` so that it can be applied through ``vi_gen.training.state.apply_model``.
"""

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from vi_gen.models.dcgan import dcgan_features
from vi_gen.models.mlp2d import maxout

_INIT = nn.initializers.normal(stddev=0.02)


class GaussianOutput(nn.Module):
  """``base(inputs) + exp(log_scale) ⊙ ε``: a Gaussian with learned per-dimension scale.

  The mean is the wrapped network's output; ``log_scale`` is a parameter of
  the output's shape (without the batch axis), starting at ``init_log_scale``.
  Given ``noise`` (ε ~ N(0, I), the output's shape) the output is a
  reparameterised sample; without it, the mean.

  Attributes:
    base: the deterministic network.
    init_log_scale: starting log σ (−2.3: σ ≈ 0.1).
  """
  base: nn.Module
  init_log_scale: float = -2.3

  @nn.compact
  def __call__(self, inputs: jax.Array, train: bool = True,
               noise: Optional[jax.Array] = None) -> jax.Array:
    mean = self.base(inputs, train=train)
    log_scale = self.param('log_scale', nn.initializers.constant(self.init_log_scale),
                           mean.shape[1:])
    if noise is None:
      return mean
    return mean + jnp.exp(log_scale) * noise


class NoiseInputEncoder(nn.Module):
  """E(x, ε) = ``base([x, ε])``: an encoder made stochastic through its input.

  ε ~ N(0, I) has x's shape and is concatenated to x on the last axis, as in
  the ALI encoder of PacGAN's 2D experiments (an MLP from 2·dim inputs).
  Given ``noise`` (ε) the output is one sample of E(x, ε); without it, ε = 0,
  the code at the noise's mean, which evaluation uses.
  """
  base: nn.Module

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True,
               noise: Optional[jax.Array] = None) -> jax.Array:
    eps = jnp.zeros_like(x) if noise is None else noise
    return self.base(jnp.concatenate([x, eps], axis=-1), train=train)


class DCGANEncoder(nn.Module):
  """E(x): images ``[B, size, size, C]`` → codes ``[B, latent_dim]``."""
  image_size: int = 28
  latent_dim: int = 100
  width: int = 64
  batch_norm: bool = True
  fast_layers: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    h = dcgan_features(x, image_size=self.image_size, width=self.width,
                       batch_norm=self.batch_norm, fast_layers=self.fast_layers,
                       train=train)
    return nn.Dense(self.latent_dim, kernel_init=_INIT)(h)


class JointMaxoutDiscriminator(nn.Module):
  """ALI's D(x, z) for vector data: logits ``[B]``.

  With ``embed`` (the default) x and z each pass through one maxout layer of
  ``hidden`` units; the two embeddings are concatenated and pass through
  ``depth − 1`` more maxout layers (PacGAN's 2D discriminator from the join
  on) to a linear logit. Without it, the raw [x, z] passes through ``depth``
  maxout layers: PacGAN's 2D ALI discriminator.
  """
  hidden: int = 200
  depth: int = 3
  pieces: int = 5
  embed: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, z: jax.Array, train: bool = True) -> jax.Array:
    del train
    if self.embed:
      h = jnp.concatenate([maxout(x, self.hidden, self.pieces),
                           maxout(z, self.hidden, self.pieces)], axis=-1)
      layers = self.depth - 1
    else:
      h, layers = jnp.concatenate([x, z], axis=-1), self.depth
    for _ in range(layers):
      h = maxout(h, self.hidden, self.pieces)
    return nn.Dense(1, kernel_init=_INIT)(h)[..., 0]


class JointDCGANDiscriminator(nn.Module):
  """ALI's D(x, z) for images: logits ``[B]``.

  x passes through the DCGAN discriminator's convolutional trunk, z through a
  dense layer of ``z_hidden`` units (leaky ReLU 0.2); the joined features pass
  through a dense layer of ``hidden`` units (leaky ReLU 0.2) to the logit.
  """
  image_size: int = 28
  width: int = 64
  batch_norm: bool = True
  z_hidden: int = 512
  hidden: int = 1024
  fast_layers: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, z: jax.Array, train: bool = True) -> jax.Array:
    hx = dcgan_features(x, image_size=self.image_size, width=self.width,
                        batch_norm=self.batch_norm, fast_layers=self.fast_layers,
                        train=train)
    hz = nn.leaky_relu(nn.Dense(self.z_hidden, kernel_init=_INIT)(z), 0.2)
    h = jnp.concatenate([hx, hz], axis=-1)
    h = nn.leaky_relu(nn.Dense(self.hidden, kernel_init=_INIT)(h), 0.2)
    return nn.Dense(1, kernel_init=_INIT)(h)[:, 0]
