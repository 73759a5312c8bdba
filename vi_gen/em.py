"""EM for Gaussian mixtures from the joint KL (eqs. 8–11), as jitted pure functions.

With q(x, z) = q(x|z) q(z) over a discrete z (the component) and p(z|x)
unrestricted, eq. 4's joint KL is minimised over p(z|x) exactly by the posterior
(E-step, eq. 10: the responsibilities) and over q by maximising
E_x Σ_z p(z|x) log q(x, z) (M-step, eq. 9), which for Gaussians is closed form.
Each EM iteration therefore cannot increase the joint KL, and the data
log-likelihood never decreases.

Conventions follow scikit-learn's ``GaussianMixture`` so that the two can be
compared from the same initialisation: covariances get ``reg_covar`` added to
their diagonal, component counts get ``10·eps`` (so a component that loses all
its points keeps finite parameters: its mean goes to 0, its covariance to
``reg_covar·I``), and convergence is a change in the mean log-likelihood below
``tol``.

Float32. A covariance whose spread of eigenvalues exceeds what float32 holds
(data with near-collinear dimensions and a small ``reg_covar``, e.g. 8×8
digits) has no Cholesky factor in float32 even though it has one exactly. The
M-step then adds a ridge scaled to that component's covariance,
``d·eps·max diagonal·10^j`` for the first j = 0, 1, 2 that factors, and
:func:`fit` counts it per component (``ridge_raised``): that component's
likelihood is then not comparable with a float64 fit. If no ridge helps, the
fit stops at that iteration with ``failed_iteration`` and
``failed_component`` set, never returning NaN as a result.
"""

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from vi_gen import xla

COVARIANCE_TYPES = ('full', 'diag')


class GaussianMixture(NamedTuple):
  """Mixture parameters. ``covariances``: [K, d, d] (full) or [K, d] (diag)."""
  weights: jax.Array
  means: jax.Array
  covariances: jax.Array

  @property
  def covariance_type(self) -> str:
    return 'full' if self.covariances.ndim == 3 else 'diag'


def component_log_probs(x: jax.Array, gmm: GaussianMixture) -> jax.Array:
  """log π_k + log N(x_n | μ_k, Σ_k), shape [N, K]."""
  d = x.shape[-1]
  if gmm.covariance_type == 'full':
    chol = jnp.linalg.cholesky(gmm.covariances)  # Σ_k = L_k L_kᵀ, [K, d, d]
    eye = jnp.broadcast_to(jnp.eye(d, dtype=x.dtype), chol.shape)
    inv_chol = jax.scipy.linalg.solve_triangular(chol, eye, lower=True)  # L_k⁻¹
    # ‖L_k⁻¹(x − μ_k)‖²: one matrix product over all points, as scikit-learn does.
    whitened = (jnp.einsum('kij,nj->nki', inv_chol, x)
                - jnp.einsum('kij,kj->ki', inv_chol, gmm.means)[None])
    maha = jnp.sum(whitened ** 2, axis=-1)
    log_det = 2 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
  else:
    diff = x[:, None, :] - gmm.means[None]  # [N, K, d]
    maha = jnp.sum(diff ** 2 / gmm.covariances[None], axis=-1)
    log_det = jnp.sum(jnp.log(gmm.covariances), axis=-1)
  log_normal = -0.5 * (d * math.log(2 * math.pi) + log_det[None] + maha)
  return jnp.log(gmm.weights)[None] + log_normal


def e_step(x: jax.Array, gmm: GaussianMixture) -> tuple[jax.Array, jax.Array]:
  """The exact posterior p(z|x) (eq. 10) in log space, and log q(x) per example.

  Returns:
    ``(log_resp [N, K], log_likelihood [N])``.
  """
  log_joint = component_log_probs(x, gmm)
  log_likelihood = jax.nn.logsumexp(log_joint, axis=1)
  return log_joint - log_likelihood[:, None], log_likelihood


def m_step(x: jax.Array, resp: jax.Array, covariance_type: str = 'full',
           reg_covar: float = 1e-6) -> GaussianMixture:
  """argmax over q of E_x Σ_z p(z|x) log q(x, z) (eq. 9), in closed form.

  Args:
    x: [N, d] data.
    resp: [N, K] responsibilities p(z|x) (rows summing to 1).
    covariance_type: 'full' or 'diag'.
    reg_covar: added to every covariance's diagonal.
  """
  if covariance_type not in COVARIANCE_TYPES:
    raise ValueError(f'covariance_type must be one of {COVARIANCE_TYPES}, '
                     f'got {covariance_type!r}')
  return _m_step(x, resp, covariance_type, reg_covar)[0]


def _m_step(x, resp, covariance_type, reg_covar):
  """:func:`m_step`; per component, whether its ridge had to be raised and
  whether its parameters are usable (finite, a covariance that factors)."""
  counts = resp.sum(axis=0) + 10 * jnp.finfo(resp.dtype).eps  # [K]
  means = resp.T @ x / counts[:, None]
  # E_resp[(x − μ)(x − μ)ᵀ]: E[x xᵀ] − μ μᵀ would cancel badly; centre first,
  # as scikit-learn does.
  diff = x[None] - means[:, None]  # [K, N, d]
  if covariance_type == 'full':
    covariances = jnp.einsum('kni,knj->kij', resp.T[..., None] * diff,
                             diff) / counts[:, None, None]
    covariances, raised = _regularised(covariances, reg_covar)
    usable = _factors(covariances)
  else:
    covariances = jnp.einsum('nk,knd->kd', resp, diff ** 2) / counts[:, None]
    covariances = covariances + reg_covar
    raised = jnp.zeros(covariances.shape[0], bool)
    usable = jnp.all(covariances > 0, axis=-1)
  weights = counts / counts.sum()
  gmm = GaussianMixture(weights, means, covariances)
  usable &= jnp.all(jnp.stack([jnp.all(jnp.isfinite(p.reshape(len(weights), -1)),
                                       axis=1) for p in gmm]), axis=0)
  return gmm, raised, usable


def _factors(covariances: jax.Array) -> jax.Array:
  """Per matrix of [K, d, d], whether its Cholesky factor is finite."""
  chol = jnp.linalg.cholesky(covariances)
  return jnp.all(jnp.isfinite(chol), axis=(-2, -1))


def _regularised(covariances: jax.Array, reg_covar: float):
  """``covariances + reg_covar·I``, with a larger ridge, scaled to the matrix,
  on those that do not factor in their precision (see the module's notes);
  and which those were."""
  d = covariances.shape[-1]
  eye = jnp.eye(d, dtype=covariances.dtype)
  plain = covariances + reg_covar * eye
  ok = _factors(plain)
  scale = jnp.max(jnp.diagonal(covariances, axis1=-2, axis2=-1), axis=-1)
  floor = d * jnp.finfo(covariances.dtype).eps * jnp.maximum(scale, reg_covar)


  def raise_ridges(plain):
    out = plain
    for j in (2, 1, 0):  # the smallest ridge that factors wins
      ridged = covariances + (reg_covar + floor * 10.0**j)[:, None, None] * eye
      out = jnp.where((~ok & _factors(ridged))[:, None, None], ridged, out)
    return out

  return jax.lax.cond(jnp.any(~ok), raise_ridges, lambda plain: plain, plain), ~ok


def kmeans_plus_plus(key: jax.Array, x: jax.Array, num_components: int) -> jax.Array:
  """k-means++ centres (Arthur & Vassilvitskii, 2007): [K, d], rows of ``x``."""
  first = jax.random.randint(key, (), 0, x.shape[0])
  centres = jnp.zeros((num_components, x.shape[1]), x.dtype).at[0].set(x[first])
  nearest = jnp.sum((x - x[first]) ** 2, axis=1)

  def body(i, carry):
    centres, nearest = carry
    index = jax.random.categorical(jax.random.fold_in(key, i),
                                   jnp.log(jnp.maximum(nearest, 1e-30)))
    centres = centres.at[i].set(x[index])
    nearest = jnp.minimum(nearest, jnp.sum((x - x[index]) ** 2, axis=1))
    return centres, nearest

  centres, _ = jax.lax.fori_loop(1, num_components, body, (centres, nearest))
  return centres


def initialize(x: jax.Array, centres: jax.Array, covariance_type: str = 'full',
               reg_covar: float = 1e-6) -> GaussianMixture:
  """The M-step from hard assignments of every point to its nearest centre."""
  sq = jnp.sum((x[:, None] - centres[None]) ** 2, axis=-1)
  resp = jax.nn.one_hot(jnp.argmin(sq, axis=1), centres.shape[0], dtype=x.dtype)
  return m_step(x, resp, covariance_type, reg_covar)


class FitResult(NamedTuple):
  gmm: GaussianMixture
  log_likelihood: jax.Array   # [max_iter]: mean log q(x) before each M-step (NaN after the end)
  num_iterations: jax.Array
  converged: jax.Array
  # Per component: the M-steps that raised its ridge, and the first of them.
  ridge_raised: jax.Array     # [K] int
  first_raised: jax.Array     # [K] int, the iteration (1-based), 0 if never
  # The first iteration whose parameters were not finite (0 if none) and its
  # first non-finite component; the fit stops there, keeping the last finite
  # parameters.
  failed_iteration: jax.Array
  failed_component: jax.Array


@functools.partial(xla.jit, static_argnames=('max_iter',))
def fit(x: jax.Array, init: GaussianMixture, max_iter: int = 100,
        tol: float = 1e-3, reg_covar: float = 1e-6) -> FitResult:
  """EM from ``init`` until the mean log-likelihood changes by less than ``tol``.

  One ``lax.while_loop``; iteration i records the mean log-likelihood of the
  parameters it starts from (as scikit-learn's ``lower_bound_``), then updates
  them. The covariance type is ``init``'s.
  """
  covariance_type = init.covariance_type
  k = init.weights.shape[0]
  history0 = jnp.full((max_iter,), jnp.nan, x.dtype)
  zeros = jnp.zeros((k,), jnp.int32)
  start = (jnp.zeros((), jnp.int32), init, history0, jnp.array(False), zeros,
           zeros, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

  def cond(carry):
    i, _, _, converged, _, _, failed, _ = carry
    return (i < max_iter) & ~converged & (failed == 0)

  def body(carry):
    i, gmm, history, _, raised, first, _, _ = carry
    log_resp, log_likelihood = e_step(x, gmm)
    mean = jnp.mean(log_likelihood)
    previous = jnp.where(i > 0, history[jnp.maximum(i - 1, 0)], -jnp.inf)
    new, now_raised, usable = _m_step(x, jnp.exp(log_resp), covariance_type,
                                      reg_covar)
    failed = jnp.where(jnp.all(usable), 0, i + 1).astype(jnp.int32)
    gmm = jax.tree.map(lambda a, b: jnp.where(failed > 0, a, b), gmm, new)
    first = jnp.where(now_raised & (first == 0), i + 1, first).astype(jnp.int32)
    converged = (failed == 0) & (jnp.abs(mean - previous) < tol)
    return (i + 1, gmm, history.at[i].set(mean), converged,
            raised + now_raised.astype(jnp.int32), first, failed,
            jnp.argmin(usable).astype(jnp.int32))

  i, gmm, history, converged, raised, first, failed, component = (
      jax.lax.while_loop(cond, body, start))
  return FitResult(gmm, history, i, converged, raised, first, failed, component)


def mean_log_likelihood(x: jax.Array, gmm: GaussianMixture) -> jax.Array:
  """E_x log q(x) under the mixture (scikit-learn's ``score``)."""
  return jnp.mean(e_step(x, gmm)[1])
