"""The VAE from the joint KL (eqs. 5–7), and the importance-weighted bound.

With q(x, z) = q(x|z) q(z) (the decoder and the prior N(0, I)) and
p(x, z) = p̃(x) p(z|x) (the data and the encoder), eq. 4's joint KL is, up to the
data's entropy, the expected negative ELBO (eq. 7):

    E_{p̃(x)} [ E_{p(z|x)} −log q(x|z) + KL(p(z|x) ‖ q(z)) ].

Everything here is per example (the caller reduces): log-likelihoods and KLs sum
over event dimensions and keep the batch axis. Encoders are diagonal Gaussians
given by ``(mean, log_var)``; decoders are given as a function returning
log q(x|z) per example, so Bernoulli and Gaussian decoders share the code.
"""

import math
from typing import Callable

import jax
import jax.numpy as jnp

# (z [..., B, d], x [B, ...]) -> log q(x|z) [..., B]
DecoderLogProb = Callable[[jax.Array, jax.Array], jax.Array]

_LOG_2PI = math.log(2 * math.pi)


def _sum_event(x: jax.Array, event_ndim: int) -> jax.Array:
  return jnp.sum(x, axis=tuple(range(x.ndim - event_ndim, x.ndim)))


def gaussian_kl_to_standard(mean: jax.Array, log_var: jax.Array) -> jax.Array:
  """KL(N(mean, exp(log_var)) ‖ N(0, I)) in closed form, summed over the last axis."""
  return 0.5 * jnp.sum(jnp.exp(log_var) + mean ** 2 - 1.0 - log_var, axis=-1)


def bernoulli_log_likelihood(logits: jax.Array, x: jax.Array,
                             event_ndim: int = 1) -> jax.Array:
  """log Bernoulli(x | sigmoid(logits)), from logits, summed over ``event_ndim`` axes.

  ``x·l − softplus(l)``: stable for any logit, and exact for x ∈ {0, 1}.
  """
  return _sum_event(x * logits - jax.nn.softplus(logits), event_ndim)


def gaussian_log_likelihood(x: jax.Array, mean: jax.Array, log_var: jax.Array,
                            event_ndim: int = 1) -> jax.Array:
  """log N(x | mean, exp(log_var)) (diagonal), summed over ``event_ndim`` axes."""
  return _sum_event(-0.5 * (_LOG_2PI + log_var + (x - mean) ** 2 * jnp.exp(-log_var)),
                    event_ndim)


def standard_normal_log_prob(z: jax.Array) -> jax.Array:
  """log N(z | 0, I), summed over the last axis."""
  return gaussian_log_likelihood(z, jnp.zeros_like(z), jnp.zeros_like(z))


def reparameterize(key: jax.Array, mean: jax.Array, log_var: jax.Array,
                   num_samples: int | None = None) -> jax.Array:
  """z = mean + σ·ε, ε ~ N(0, I); with ``num_samples``, a leading axis of samples."""
  shape = mean.shape if num_samples is None else (num_samples, *mean.shape)
  return mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, shape, mean.dtype)


def negative_elbo(key: jax.Array, x: jax.Array, mean: jax.Array,
                  log_var: jax.Array, decoder_log_prob: DecoderLogProb
                  ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Eq. 7 per example: −log q(x|z) + KL(p(z|x) ‖ q(z)), one reparameterised z.

  Args:
    key: PRNG key for ε.
    x: the batch, [B, ...].
    mean, log_var: the encoder's p(z|x), [B, d].
    decoder_log_prob: ``(z, x) -> log q(x|z)`` per example.

  Returns:
    ``(loss [B], {'reconstruction': −log q(x|z) [B], 'kl': [B]})``.
  """
  z = reparameterize(key, mean, log_var)
  reconstruction = -decoder_log_prob(z, x)
  kl = gaussian_kl_to_standard(mean, log_var)
  return reconstruction + kl, {'reconstruction': reconstruction, 'kl': kl}


def importance_weighted_bound(key: jax.Array, x: jax.Array, mean: jax.Array,
                              log_var: jax.Array, decoder_log_prob: DecoderLogProb,
                              num_samples: int) -> jax.Array:
  """The k-sample bound on log q(x) (Burda et al., 2015), per example.

  ``log (1/k) Σ_i q(x|z_i) q(z_i) / p(z_i|x)`` with z_i ~ p(z|x), computed with
  ``logsumexp``. It is the ELBO at k = 1 in expectation, never decreases in
  expectation with k, and tends to log q(x). ``num_samples`` samples are drawn
  at once; batch the examples (or chunk k) to bound memory.

  Returns:
    [B] lower bounds on log q(x) (in nats).
  """
  z = reparameterize(key, mean, log_var, num_samples)  # [k, B, d]
  log_weights = (decoder_log_prob(z, x) + standard_normal_log_prob(z)
                 - gaussian_log_likelihood(z, mean, log_var))
  return jax.nn.logsumexp(log_weights, axis=0) - math.log(num_samples)
