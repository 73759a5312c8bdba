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

from vi_gen import em
from vi_gen import plotting
from vi_gen.data import images
from vi_gen.data import toy2d
from vi_gen.training.config import ConfigError, EMConfig, check_writable


def validate_em(config: EMConfig) -> None:
  if config.dataset not in (*toy2d.DATASETS, 'mnist'):
    raise ConfigError(f'unknown dataset {config.dataset!r}; choose one of '
                      f'{", ".join((*toy2d.DATASETS, "mnist"))}')
  if config.covariance_type not in em.COVARIANCE_TYPES:
    raise ConfigError(f'unknown covariance_type {config.covariance_type!r}')
  for name in ('num_components', 'max_iter'):
    if getattr(config, name) < 1:
      raise ConfigError(f'{name} must be >= 1, got {getattr(config, name)}')


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
  """Fits the mixture and writes the outputs; returns the summary."""
  validate_em(config)
  check_writable(workdir)
  data_key, init_key = jax.random.split(jax.random.PRNGKey(config.seed))
  train, test = load_data(config, data_key, data_dir, manual_dir)
  k = config.num_components
  logging.info('%s: %d points in %d dimensions, K=%d', config.dataset,
               *train.shape, k)
  init = em.initialize(train, em.kmeans_plus_plus(init_key, train, k),
                       config.covariance_type, config.reg_covar)
  result = em.fit(train, init, max_iter=config.max_iter, tol=config.tol,
                  reg_covar=config.reg_covar)
  iterations = int(result.num_iterations)
  history = np.asarray(result.log_likelihood)[:iterations]
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    for i, value in enumerate(history):
      f.write(json.dumps({'iteration': i + 1, 'mean_log_likelihood': float(value)})
              + '\n')
      logging.info('iteration %d  mean log-likelihood %.6f', i + 1, value)
  summary = {'dataset': config.dataset, 'num_components': k,
             'covariance_type': config.covariance_type, 'iterations': iterations,
             'converged': bool(result.converged),
             'train_mean_log_likelihood': float(
                 em.mean_log_likelihood(train, result.gmm))}
  if test is not None:
    summary['test_mean_log_likelihood'] = float(
        em.mean_log_likelihood(test, result.gmm))
  with open(os.path.join(workdir, 'summary.json'), 'w') as f:
    json.dump(summary, f, indent=2)
  if train.shape[1] == 2:
    gmm = jax.tree.map(np.asarray, result.gmm)
    plotting.plot_mixture_2d(
        os.path.join(workdir, 'components.png'), np.asarray(train), gmm.weights,
        gmm.means, gmm.covariances,
        f'{config.dataset}: EM, K={k}, {iterations} iterations, '
        f'mean log-lik {summary["train_mean_log_likelihood"]:.3f}')
  return summary
