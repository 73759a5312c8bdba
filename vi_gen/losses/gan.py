"""GAN objectives derived from the joint KL (arXiv 1807.05936, section 3).

The GAN introduces a binary latent y with q(x, 1) = p̃(x)/2 and q(x, 0) = q(x)/2,
and a discriminator D(x) = p(1|x) = sigmoid(logit). Minimising
KL(q(x, y) ‖ p(x, y)) alternately in D and G gives the losses below.

Every function takes logits (never probabilities) and returns per-example values;
the caller reduces, as optax does. The identities used throughout are
``-log sigmoid(l) = softplus(-l)`` and ``-log(1 - sigmoid(l)) = softplus(l)``, which
stay finite for any finite logit.
"""

from typing import Optional

import jax
import jax.numpy as jnp


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """Discriminator loss, eq. 16: ``-log D(x) - log(1 - D(G(z)))``.

  Its batch mean is ``-E_p̃ log D(x) - E_q log(1 - D(x))``.

  Args:
    real_logits: D's logits on data samples, shape ``[batch]``.
    fake_logits: D's logits on generated samples, same shape (or broadcastable).

  Returns:
    Per-example loss, the broadcast shape of the inputs.

  References:
    Su, "Variational Inference: A Unified Framework of Generative Models and Some
    Revelations", arXiv 1807.05936, eq. 16.
  """
  # -log D(x) = softplus(-l); -log(1 - D(x)) = softplus(l).
  return jax.nn.softplus(-real_logits) + jax.nn.softplus(fake_logits)


def generator_loss(fake_logits: jax.Array) -> jax.Array:
  """Non-saturating generator loss, eq. 20: ``-log D(G(z))``.

  The first term of the complete generator loss (eq. 19); the second,
  ``KL(q(x) ‖ q°(x))``, is estimated by :func:`generator_drift`.

  Args:
    fake_logits: D's logits on generated samples, shape ``[batch]``.

  Returns:
    Per-example loss, shape of ``fake_logits``.

  References:
    arXiv 1807.05936, eqs. 19–20.
  """
  return jax.nn.softplus(-fake_logits)


def minimax_generator_loss(fake_logits: jax.Array) -> jax.Array:
  """Saturating minimax generator loss ``log(1 - D(G(z)))``, for comparison.

  The generator minimises this (Goodfellow et al., 2014); its gradient vanishes
  where D confidently rejects samples, which is why eq. 20 is used in practice.

  Args:
    fake_logits: D's logits on generated samples, shape ``[batch]``.

  Returns:
    Per-example loss, shape of ``fake_logits``.
  """
  # log(1 - sigmoid(l)) = -softplus(l).
  return -jax.nn.softplus(fake_logits)


def generator_drift(samples: jax.Array, anchor_samples: jax.Array) -> jax.Array:
  """The regulariser of eq. 26: ``‖G(z) - G°(z)‖²`` as an element-wise mean.

  Estimates ``KL(q(x) ‖ q°(x))`` through the joint ``KL(q(x, z) ‖ q°(x, z))`` with
  a narrow Gaussian in place of the delta function (eqs. 23–25). The squared
  difference is averaged over every non-batch axis, so the batch mean of the
  result is the mean over ``batch × H × W × C``, as in the paper's public code:
  ``λ = 5`` means what it means there.

  No gradient flows into ``anchor_samples``: G° is the previous stage's generator
  and is held fixed.

  Args:
    samples: G(z), shape ``[batch, ...]``.
    anchor_samples: G°(z) for the same z, same shape.

  Returns:
    Per-example mean squared difference, shape ``[batch]``.

  References:
    arXiv 1807.05936, eqs. 23–26.
  """
  diff = samples - jax.lax.stop_gradient(anchor_samples)
  return jnp.mean(jnp.square(diff).reshape(diff.shape[0], -1), axis=-1)


def variational_generator_loss(
    fake_logits: jax.Array,
    samples: jax.Array,
    anchor_samples: Optional[jax.Array],
    reg_lambda: float,
) -> jax.Array:
  """The complete generator loss, eq. 26: ``-log D(G(z)) + λ ‖G(z) - G°(z)‖²``.

  Args:
    fake_logits: D's logits on ``samples``, shape ``[batch]``.
    samples: G(z), shape ``[batch, ...]``.
    anchor_samples: G°(z) for the same z, same shape as ``samples``; None
      leaves the term out (``reg_lambda`` must then be 0).
    reg_lambda: λ ≥ 0; 0 gives the standard non-saturating loss.

  Returns:
    Per-example loss, shape ``[batch]``.

  References:
    arXiv 1807.05936, eq. 26.
  """
  return with_drift(generator_loss(fake_logits), samples, anchor_samples,
                    reg_lambda)


def with_drift(loss: jax.Array, samples: jax.Array,
               anchor_samples: Optional[jax.Array],
               reg_lambda: float) -> jax.Array:
  """``loss + λ ‖samples − anchor_samples‖²`` per example: eq. 26's form.

  The one place the anchor term joins a loss: the GAN's generator (eq. 26),
  ALI's generator (eq. 40) and the AAE's encoder (eq. 32) all add it so.

  Args:
    loss: per-example loss, ``[batch]``.
    samples: the network's output, ``[batch, ...]``.
    anchor_samples: its anchor's output on the same input, or None: no term
      (``reg_lambda`` must then be 0).
    reg_lambda: λ ≥ 0.

  Returns:
    Per-example loss, ``[batch]``.
  """
  if anchor_samples is None:
    if reg_lambda:
      raise ValueError(f'reg_lambda={reg_lambda} needs the anchor\'s samples')
    return loss
  return loss + reg_lambda * generator_drift(samples, anchor_samples)
