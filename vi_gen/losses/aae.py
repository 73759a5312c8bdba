"""Adversarial-autoencoder objectives from the joint KL (arXiv 1807.05936, eqs. 30–34).

The AAE is the GAN with x and z exchanged: a deterministic encoder E(x) should
make the aggregate code distribution match the prior q(z) = N(0, I). A binary y
labels where a code came from, and the latent discriminator is
D(z) = q(0|z) = sigmoid(logit): **the probability that z was drawn from the
prior** (docs/protocols.md); 1 − D(z) is the probability that z is a code E(x).

Every function takes logits and returns per-example values; the caller reduces.
"""

from typing import Optional

import jax
import jax.numpy as jnp

from vi_gen.losses import gan


def latent_discriminator_loss(code_logits: jax.Array,
                              prior_logits: jax.Array) -> jax.Array:
  """Latent discriminator loss, eq. 30: ``-log(1 - D(E(x))) - log D(z)``, z ~ q(z).

  Args:
    code_logits: D's logits on codes E(x), shape ``[batch]``.
    prior_logits: D's logits on prior draws z ~ N(0, I), same shape.

  Returns:
    Per-example loss.

  References:
    arXiv 1807.05936, eq. 30.
  """
  # -log(1 - D) = softplus(l); -log D = softplus(-l).
  return jax.nn.softplus(code_logits) + jax.nn.softplus(-prior_logits)


def encoder_adversarial_loss(code_logits: jax.Array) -> jax.Array:
  """The encoder's adversarial term of eq. 34: ``-log D(E(x))``.

  E is trained to make D take its codes for prior draws.

  Args:
    code_logits: D's logits on codes E(x), shape ``[batch]``.

  Returns:
    Per-example loss.
  """
  return jax.nn.softplus(-code_logits)


def reconstruction_error(x: jax.Array, reconstruction: jax.Array) -> jax.Array:
  """``‖x − G(E(x))‖²`` as an element-wise mean over every non-batch axis.

  −log q(x|z) for a Gaussian decoder of fixed variance σ², up to a constant and
  a factor that λ of eq. 34 absorbs. Averaged rather than summed over
  dimensions, as the GAN's drift term is (``losses.gan.generator_drift``), so
  that one λ means the same for 2D points and for images.

  Args:
    x: data, ``[batch, ...]``.
    reconstruction: G(E(x)), the same shape.

  Returns:
    Per-example mean squared error, ``[batch]``.
  """
  diff = (x - reconstruction).reshape(x.shape[0], -1)
  return jnp.mean(jnp.square(diff), axis=-1)


def autoencoder_loss(code_logits: jax.Array, x: jax.Array,
                     reconstruction: jax.Array, recon_lambda: float) -> jax.Array:
  """The encoder/decoder loss, eq. 34: ``-log D(E(x)) + λ ‖x − G(E(x))‖²``.

  Args:
    code_logits: D's logits on E(x), ``[batch]``.
    x: data, ``[batch, ...]``.
    reconstruction: G(E(x)), the shape of ``x``.
    recon_lambda: λ ≥ 0, the weight of the reconstruction term.

  Returns:
    Per-example loss, ``[batch]``.

  References:
    arXiv 1807.05936, eqs. 33–34.
  """
  return (encoder_adversarial_loss(code_logits)
          + recon_lambda * reconstruction_error(x, reconstruction))


def variational_autoencoder_loss(
    code_logits: jax.Array, x: jax.Array, reconstruction: jax.Array,
    recon_lambda: float, codes: jax.Array, anchor_codes: Optional[jax.Array],
    reg_lambda: float) -> jax.Array:
  """Eq. 34 with eq. 32's encoder term: ``eq. 34 + λ' ‖E(x) − E°(x)‖²``.

  Eq. 32 keeps ``KL(p(z) ‖ p°(z))``, which eq. 33 drops; with a narrow
  Gaussian around E(x) it is eq. 26's regulariser on the encoder
  (:func:`vi_gen.losses.gan.generator_drift` on codes).

  Args:
    code_logits, x, reconstruction, recon_lambda: as :func:`autoencoder_loss`.
    codes: E(x), ``[batch, latent]``.
    anchor_codes: E°(x), or None to leave the term out (then ``reg_lambda``
      must be 0).
    reg_lambda: λ' ≥ 0.

  Returns:
    Per-example loss, ``[batch]``.

  References:
    arXiv 1807.05936, eqs. 32–34 and 26.
  """
  base = autoencoder_loss(code_logits, x, reconstruction, recon_lambda)
  return gan.with_drift(base, codes, anchor_codes, reg_lambda)
