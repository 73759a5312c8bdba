"""ALI / BiGAN objectives derived from the joint KL (arXiv 1807.05936, eqs. 35–43).

ALI treats both x and z as variables of the joint. The *encoder pair* is
(x ~ p̃(x), z ~ p(z|x) = E(x)); the *generator pair* is (z ~ q(z), x ~ q(x|z) = G(z)).
A binary y labels them, and the joint discriminator is D(x, z) = p(1|x, z) =
sigmoid(logit): **1 = the encoder pair, 0 = the generator pair** (docs/protocols.md).

Every function takes D's logits on the two pairs and returns per-example values;
the caller reduces. With ``l`` a logit: ``-log D = softplus(-l)``,
``-log(1 - D) = softplus(l)``, finite for any finite ``l``.

The three generator/encoder losses differ only in the encoder-side term:

===========================  ===================  ===================
loss                         encoder pair term     generator pair term
===========================  ===================  ===================
eq. 41, the paper's (``vi``)  −log D(x, E(x))      −log D(G(z), z)
eq. 42, ``minimax``           +log D(x, E(x))      +log(1 − D(G(z), z))
eq. 43, ``nonsaturating``     −log(1 − D(x, E(x)))  −log D(G(z), z)
===========================  ===================  ===================

Eq. 41 pushes D up on *both* pairs, which looks counter-intuitive; the paper
derives it by substituting the optimal D into the joint KL and reports that it
trains as well as the standard losses (``benchmarks/ali_losses.py`` measures it).
Since −log D − (−log(1 − D)) = −l, eq. 41 equals eq. 43 minus the encoder
pair's logit, example by example.
"""

from typing import Callable, Optional

import jax
import jax.numpy as jnp

from vi_gen.losses import gan


def discriminator_loss(encoder_logits: jax.Array,
                       generator_logits: jax.Array) -> jax.Array:
  """Joint discriminator loss, eq. 38: ``-log D(x, E(x)) - log(1 - D(G(z), z))``.

  Args:
    encoder_logits: D's logits on encoder pairs (x, E(x)), shape ``[batch]``.
    generator_logits: D's logits on generator pairs (G(z), z), same shape.

  Returns:
    Per-example loss, the broadcast shape of the inputs.

  References:
    arXiv 1807.05936, eq. 38.
  """
  # Eq. 16 with the encoder pair in the place of the data.
  return gan.discriminator_loss(encoder_logits, generator_logits)


def vi_generator_loss(encoder_logits: jax.Array,
                      generator_logits: jax.Array) -> jax.Array:
  """The paper's generator/encoder loss, eq. 41: ``-log D(x, E(x)) - log D(G(z), z)``.

  Both terms raise D; minimised jointly over E and G with D fixed.

  Args:
    encoder_logits: D's logits on (x, E(x)), shape ``[batch]``.
    generator_logits: D's logits on (G(z), z), same shape.

  Returns:
    Per-example loss.

  References:
    arXiv 1807.05936, eq. 41.
  """
  return jax.nn.softplus(-encoder_logits) + jax.nn.softplus(-generator_logits)


def minimax_generator_loss(encoder_logits: jax.Array,
                           generator_logits: jax.Array) -> jax.Array:
  """The minimax generator/encoder loss, eq. 42: ``log D(x, E(x)) + log(1 - D(G(z), z))``.

  The negative of eq. 38: E and G minimise what D maximises (Dumoulin et al.,
  2017; Donahue et al., 2017).

  References:
    arXiv 1807.05936, eq. 42.
  """
  return -jax.nn.softplus(-encoder_logits) - jax.nn.softplus(generator_logits)


def nonsaturating_generator_loss(encoder_logits: jax.Array,
                                 generator_logits: jax.Array) -> jax.Array:
  """The non-saturating loss, eq. 43: ``-log(1 - D(x, E(x))) - log D(G(z), z)``.

  The labels swapped: E and G are trained to make D call each pair the other.

  References:
    arXiv 1807.05936, eq. 43.
  """
  return jax.nn.softplus(encoder_logits) + jax.nn.softplus(-generator_logits)


def input_gradient_penalty(grad_x: jax.Array, grad_z: jax.Array) -> jax.Array:
  """``‖∇_{x,z} logit(x, z)‖²`` per example: the R1 penalty's norm on D's input.

  Not part of the paper's objective: a regulariser of D (Mescheder et al.
  2018, "Which training methods for GANs actually converge?", eq. 9), which
  ``ALISchedule.r1_gamma`` adds to eq. 38 as ``γ/2`` times its mean over
  encoder pairs, the pairs that carry the data. At an equilibrium where the
  two pairs' distributions match and D is constant it vanishes, so it damps
  the game's oscillation without moving that equilibrium.

  Args:
    grad_x: the gradient of D's logit with respect to x, ``[batch, ...]``.
    grad_z: the gradient with respect to z, ``[batch, ...]``.

  Returns:
    The squared norm over x's and z's dimensions together, shape ``[batch]``.
  """
  squares = lambda g: jnp.sum(jnp.square(g).reshape(g.shape[0], -1), axis=-1)
  return squares(grad_x) + squares(grad_z)


GeneratorLoss = Callable[[jax.Array, jax.Array], jax.Array]

GENERATOR_LOSSES: dict[str, GeneratorLoss] = {
    'vi': vi_generator_loss,
    'minimax': minimax_generator_loss,
    'nonsaturating': nonsaturating_generator_loss,
}


def variational_generator_loss(
    loss: str,
    encoder_logits: jax.Array,
    generator_logits: jax.Array,
    samples: jax.Array,
    anchor_samples: Optional[jax.Array],
    reg_lambda: float,
) -> jax.Array:
  """An E/G loss with eq. 40's generator term: ``loss + λ ‖G(z) − G°(z)‖²``.

  Eq. 40 keeps ``E_z KL(q(x|z) ‖ q°(x|z))``, which eq. 41 drops; with a narrow
  Gaussian around G(z) it is eq. 26's regulariser (:func:`gan.generator_drift`),
  as it is for the GAN. Eq. 40's other dropped term, on the encoder, is not
  included.

  Args:
    loss: a key of :data:`GENERATOR_LOSSES` (eq. 41, 42 or 43).
    encoder_logits: D's logits on (x, E(x)), shape ``[batch]``.
    generator_logits: D's logits on (G(z), z), same shape.
    samples: G(z), ``[batch, ...]``.
    anchor_samples: G°(z) for the same z and noise, or None to leave the
      term out (then ``reg_lambda`` must be 0).
    reg_lambda: λ ≥ 0.

  Returns:
    Per-example loss, ``[batch]``.

  References:
    arXiv 1807.05936, eqs. 40–43 and 26.
  """
  base = GENERATOR_LOSSES[loss](encoder_logits, generator_logits)
  return gan.with_drift(base, samples, anchor_samples, reg_lambda)
