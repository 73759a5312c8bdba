"""Fit and evaluate a Gaussian mixture by EM (``experiments.em``).

``fit_and_evaluate(config, workdir)`` draws or loads the data, fits
(:func:`vi_gen.em.fit`: k-means++ start, exact E-step, closed-form M-step, one
jitted ``lax.while_loop``) and writes to ``workdir``:

* ``metrics.jsonl``: one record per iteration, ``iteration`` and
  ``mean_log_likelihood`` of the parameters that iteration started from;
* ``summary.json``: iterations, convergence, and the train (and for MNIST
  test) mean log-likelihood of the fitted mixture;
* for 2D data ``components.png``: the fitted components over the data.
"""

import json
import os
from typing import Optional

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from vi_gen import checkpoint
from vi_gen import em
from vi_gen import plotting
from vi_gen import records
from vi_gen.data import images
from vi_gen.data import toy2d
from vi_gen.training import loop
from vi_gen.training import validation
from vi_gen.training.config import ConfigError, EMConfig


# MNIST's training set: its images, and the pixels of one.
MNIST_TRAIN, MNIST_PIXELS = 60_000, 784


def validate_em(config: EMConfig) -> None:
  """Raises :class:`ConfigError` with a one-line reason if ``config`` cannot
  run (before any data is drawn or loaded)."""
  validation.representable(config)
  if config.dataset not in (*toy2d.DATASETS, 'mnist'):
    raise ConfigError(f'unknown dataset {config.dataset!r}; choose one of '
                      f'{", ".join((*toy2d.DATASETS, "mnist"))}')
  if config.covariance_type not in em.COVARIANCE_TYPES:
    raise ConfigError(f'unknown covariance_type {config.covariance_type!r}')
  for name in ('num_components', 'max_iter', 'num_samples'):
    if getattr(config, name) < 1:
      raise ConfigError(f'{name} must be >= 1, got {getattr(config, name)}')
  points = MNIST_TRAIN if config.dataset == 'mnist' else config.num_samples
  if config.num_components > points:
    raise ConfigError(
        f'num_components={config.num_components} is more than the '
        f'{points} points to fit' + ('' if config.dataset == 'mnist' else
                                     ' (num_samples)'))
  if not 0 <= config.pca_dim <= MNIST_PIXELS:
    raise ConfigError(f'pca_dim must be in [0, {MNIST_PIXELS}] (0: the raw '
                      f'pixels), got {config.pca_dim}')
  if config.pca_dim != EMConfig.pca_dim and config.dataset != 'mnist':
    raise ConfigError('pca_dim is for MNIST')
  if not config.tol >= 0:
    raise ConfigError(f'tol must be >= 0, got {config.tol}')
  if not config.reg_covar >= 0:
    raise ConfigError(f'reg_covar must be >= 0, got {config.reg_covar}')


def load_data(config: EMConfig, key: jax.Array, data_dir: Optional[str] = None,
              manual_dir: Optional[str] = None):
  """``(train, test or None)`` as float32 arrays [N, d].

  2D: ``num_samples`` points of the mixture. MNIST: pixels in [0, 1] on the
  first ``pca_dim`` principal components of the training set (0: raw).
  """
  if config.dataset != 'mnist':
    return toy2d.get_mixture(config.dataset).sample(key, config.num_samples), None
  kwargs = dict(data_dir=data_dir, manual_dir=manual_dir)
  train, test = (images.load_arrays('mnist', split, **kwargs)[0] for split in
                 ('train', 'test'))
  train, test = (jnp.asarray(x.reshape(len(x), -1), jnp.float32) / 255.0
                 for x in (train, test))
  if config.pca_dim:
    centre = train.mean(axis=0)
    _, _, vt = jnp.linalg.svd(train - centre, full_matrices=False)
    basis = vt[:config.pca_dim].T
    train, test = (train - centre) @ basis, (test - centre) @ basis
  return train, test


def fit_and_evaluate(config: EMConfig, workdir: str, *,
                     data_dir: Optional[str] = None,
                     manual_dir: Optional[str] = None) -> dict:
  """Fits the mixture and writes the outputs; returns the summary.

  Raises:
    ConfigError: before any work, if the config or workdir is unusable or
      another run holds the workdir.
    NonFiniteLossError: if a component degenerates beyond what a ridge
      repairs (after metrics.jsonl is written).
  """
  validate_em(config)
  if config.dataset == 'mnist':
    validation.require_data('mnist', data_dir, manual_dir)
  validation.check_writable(workdir)
  with loop.workdir_lock(workdir, jax.process_index() == 0):
    if config.float64:
      with jax.enable_x64(True):
        return _fit_and_evaluate(config, workdir, data_dir, manual_dir)
    return _fit_and_evaluate(config, workdir, data_dir, manual_dir)


def _fit_and_evaluate(config, workdir, data_dir, manual_dir):
  data_key, init_key = jax.random.split(jax.random.PRNGKey(config.seed))
  train, test = load_data(config, data_key, data_dir, manual_dir)
  dtype = jnp.float64 if config.float64 else jnp.float32
  train, test = (None if a is None else jnp.asarray(a, dtype) for a in (train, test))
  k = config.num_components
  logging.info('%s: %d points in %d dimensions, K=%d, %s', config.dataset,
               *train.shape, k, jnp.dtype(dtype).name)
  init = em.initialize(train, em.kmeans_plus_plus(init_key, train, k),
                       config.covariance_type, config.reg_covar)
  result = em.fit(train, init, max_iter=config.max_iter, tol=config.tol,
                  reg_covar=config.reg_covar)
  iterations = int(result.num_iterations)
  history = np.asarray(result.log_likelihood)[:iterations]
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    for i, value in enumerate(history):
      f.write(json.dumps(records.rounded(
          {'iteration': i + 1, 'mean_log_likelihood': float(value)})) + '\n')
      logging.info('iteration %d  mean log-likelihood %.6f', i + 1, value)
  if failed := int(result.failed_iteration):
    raise loop.NonFiniteLossError(
        f'EM stopped at iteration {failed}: component '
        f'{int(result.failed_component)} has no usable covariance even with a '
        f'raised ridge; raise --reg_covar (e.g. 1e-3), fit fewer components, or '
        f'use --float64')
  raised = {int(c): int(n) for c, n in enumerate(np.asarray(result.ridge_raised))
            if n}
  for c, n in raised.items():
    logging.warning(
        'component %d: its covariance did not factor in %s at iteration %d (%d '
        'M-steps in all), so its diagonal got a ridge scaled to it instead of '
        'reg_covar=%g; its likelihood is not comparable with a float64 fit '
        '(--float64 or a larger --reg_covar avoids this)', c,
        jnp.dtype(dtype).name, int(result.first_raised[c]), n, config.reg_covar)
  summary = {'dataset': config.dataset, 'num_components': k,
             'covariance_type': config.covariance_type, 'iterations': iterations,
             'converged': bool(result.converged),
             'ridge_raised': {str(c): n for c, n in raised.items()},
             'train_mean_log_likelihood': float(
                 em.mean_log_likelihood(train, result.gmm))}
  if test is not None:
    summary['test_mean_log_likelihood'] = float(
        em.mean_log_likelihood(test, result.gmm))
  # Strict JSON: a score that is not finite is null (and said so).
  for key, value in summary.items():
    if isinstance(value, float) and not np.isfinite(value):
      logging.warning('%s is %s; summary.json records null', key, value)
      summary[key] = None
  checkpoint.write_json(os.path.join(workdir, 'summary.json'),
                        records.rounded(summary))
  if train.shape[1] == 2:
    gmm = jax.tree.map(np.asarray, result.gmm)
    plotting.plot_mixture_2d(
        os.path.join(workdir, 'components.png'), np.asarray(train), gmm.weights,
        gmm.means, gmm.covariances,
        f'{config.dataset}: EM, K={k}, {iterations} iterations, '
        f'mean log-lik {summary["train_mean_log_likelihood"]:.3f}')
  return summary
