"""The paper's one objective, as numbers: the joint-KL identity (eq. 4) and eq. 22.

Eq. 4. For a data distribution p̃(x), an inference model p(z|x) and a generative
joint q(x, z) with marginal q(x) and posterior q(z|x),

    KL(p(x,z) ‖ q(x,z)) = KL(p̃(x) ‖ q(x)) + E_{p̃(x)} KL(p(z|x) ‖ q(z|x))
                        ≥ KL(p̃(x) ‖ q(x)),

so minimising the joint KL bounds the marginal one that maximum likelihood
minimises; every model in vi_gen (EM, VAE, GAN, AAE, ALI) is that objective with
a different joint. :func:`joint_kl_terms` computes the three terms for discrete
distributions, so the identity can be checked to float precision
(``tests/test_framework.py``).

Eq. 22. For a smooth family q_θ, ``KL(q_θ ‖ q_{θ−Δθ}) ≈ ½ Δθᵀ F(θ) Δθ`` with F
the Fisher information; the error is O(‖Δθ‖³). :func:`fisher_quadratic_form`
is the right-hand side; :func:`gaussian_kl` and :func:`gaussian_fisher` give a
family (diagonal Gaussians in (mean, log σ)) where both sides are known exactly.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


def discrete_kl(p: jax.Array, q: jax.Array, axis=None) -> jax.Array:
  """KL(p ‖ q) = Σ p log(p/q) over ``axis`` (all axes by default), with 0·log 0 = 0.

  Infinite where q = 0 < p.
  """
  terms = jnp.where(p > 0, p * (jnp.log(jnp.where(p > 0, p, 1.0)) - jnp.log(q)), 0.0)
  return jnp.sum(terms, axis=axis)


class JointKLTerms(NamedTuple):
  joint: jax.Array        # KL(p(x,z) ‖ q(x,z))
  marginal: jax.Array     # KL(p̃(x) ‖ q(x))
  conditional: jax.Array  # E_{p̃(x)} KL(p(z|x) ‖ q(z|x))


def joint_kl_terms(data: jax.Array, inference: jax.Array,
                   model: jax.Array) -> JointKLTerms:
  """The three terms of eq. 4 for discrete x and z.

  Args:
    data: p̃(x), shape [X], summing to 1.
    inference: p(z|x), shape [X, Z], each row summing to 1.
    model: q(x, z), shape [X, Z], summing to 1.

  Returns:
    :class:`JointKLTerms`; ``joint == marginal + conditional`` exactly in exact
    arithmetic.
  """
  joint_p = data[:, None] * inference
  model_x = model.sum(axis=1)
  model_z_given_x = model / model_x[:, None]
  conditional = jnp.sum(data * discrete_kl(inference, model_z_given_x, axis=1))
  return JointKLTerms(joint=discrete_kl(joint_p, model),
                      marginal=discrete_kl(data, model_x),
                      conditional=conditional)


def gaussian_kl(mean_p: jax.Array, log_std_p: jax.Array, mean_q: jax.Array,
                log_std_q: jax.Array) -> jax.Array:
  """KL(N(μ_p, σ_p²) ‖ N(μ_q, σ_q²)) for diagonal Gaussians, summed over the last axis."""
  var_p, var_q = jnp.exp(2 * log_std_p), jnp.exp(2 * log_std_q)
  return jnp.sum(log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2)
                 / (2 * var_q) - 0.5, axis=-1)


def gaussian_fisher(log_std: jax.Array) -> jax.Array:
  """Fisher information of a diagonal Gaussian in θ = (μ, log σ), as a [2d, 2d] matrix.

  For each coordinate: 1/σ² for the mean, 2 for log σ; no cross terms.
  """
  return jnp.diag(jnp.concatenate([jnp.exp(-2 * log_std),
                                   jnp.full_like(log_std, 2.0)]))


def fisher_quadratic_form(fisher: jax.Array, delta: jax.Array) -> jax.Array:
  """½ Δθᵀ F Δθ: eq. 22's second-order approximation of KL(q_θ ‖ q_{θ−Δθ})."""
  return 0.5 * delta @ fisher @ delta
