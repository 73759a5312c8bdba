r"""EM for a Gaussian mixture (eqs. 8–11): a built-in 2D dataset, or MNIST by flag.

    python -m experiments.em                                  # ring8, 8 components
    python -m experiments.em --dataset=grid25 --num_components=25
    python -m experiments.em --dataset=mnist --pca_dim=50 --num_components=10

k-means++ picks the initial centres; the first M-step uses hard assignments.
The E-step is the exact posterior (responsibilities, in log space), the M-step
closed form; the loop runs as one jitted ``lax.while_loop`` (vi_gen/em.py)
until the mean log-likelihood changes by less than --tol.

Writes to --workdir (default runs/em/<dataset>_k<K>_<covariance>_seed<seed>):
``metrics.jsonl`` (one record per iteration: ``iteration``,
``mean_log_likelihood`` of the parameters that iteration started from), a final
``summary.json`` (train and, for MNIST, test mean log-likelihood), and for 2D
``components.png``: the fitted components over the data.
"""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from experiments import quiet_logs
from vi_gen import em
from vi_gen import plotting
from vi_gen.data import images
from vi_gen.data import toy2d

_DATASET = flags.DEFINE_enum('dataset', 'ring8', [*toy2d.DATASETS, 'mnist'],
                             'A built-in 2D mixture, or MNIST.')
_NUM_COMPONENTS = flags.DEFINE_integer(
    'num_components', None, 'K (default: the 2D dataset\'s number of modes; 10 for MNIST).')
_COVARIANCE = flags.DEFINE_enum('covariance_type', 'full', list(em.COVARIANCE_TYPES),
                                'Component covariances.')
_MAX_ITER = flags.DEFINE_integer('max_iter', 200, 'Most EM iterations.')
_TOL = flags.DEFINE_float('tol', 1e-3, 'Stop when the mean log-likelihood changes less.')
_REG_COVAR = flags.DEFINE_float('reg_covar', 1e-6, 'Added to covariance diagonals.')
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 10_000, '2D: points drawn.')
_PCA_DIM = flags.DEFINE_integer('pca_dim', 50, 'MNIST: PCA dimension (0: raw 784 pixels).')
_SEED = flags.DEFINE_integer('seed', 0, 'Random seed (data draw and k-means++).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data_dir.')
_MANUAL_DIR = flags.DEFINE_string(
    'manual_dir', None, f'TFDS manual_dir (default: ${images.MANUAL_DIR_ENV}).')


def load_data(key: jax.Array):
  """``(train, test or None)`` as float32 arrays [N, d]."""
  if _DATASET.value != 'mnist':
    return toy2d.get_mixture(_DATASET.value).sample(key, _NUM_SAMPLES.value), None
  kwargs = dict(data_dir=_DATA_DIR.value, manual_dir=_MANUAL_DIR.value)
  train, test = (images.load_arrays('mnist', split, **kwargs)[0] for split in
                 ('train', 'test'))
  train, test = (jnp.asarray(x.reshape(len(x), -1), jnp.float32) / 255.0
                 for x in (train, test))
  if _PCA_DIM.value:
    centre = train.mean(axis=0)
    _, _, vt = jnp.linalg.svd(train - centre, full_matrices=False)
    basis = vt[:_PCA_DIM.value].T
    train, test = (train - centre) @ basis, (test - centre) @ basis
  return train, test


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  quiet_logs.install()
  dataset = _DATASET.value
  k = _NUM_COMPONENTS.value or (10 if dataset == 'mnist'
                                else toy2d.get_mixture(dataset).num_modes)
  if k < 1 or _MAX_ITER.value < 1:
    print('experiments.em: error: --num_components and --max_iter must be >= 1',
          file=sys.stderr)
    sys.exit(2)
  workdir = _WORKDIR.value or (f'runs/em/{dataset}_k{k}_{_COVARIANCE.value}_'
                               f'seed{_SEED.value}')
  os.makedirs(workdir, exist_ok=True)
  data_key, init_key = jax.random.split(jax.random.PRNGKey(_SEED.value))
  train, test = load_data(data_key)
  logging.info('%s: %d points in %d dimensions, K=%d', dataset, *train.shape, k)

  init = em.initialize(train, em.kmeans_plus_plus(init_key, train, k),
                       _COVARIANCE.value, _REG_COVAR.value)
  result = em.fit(train, init, max_iter=_MAX_ITER.value, tol=_TOL.value,
                  reg_covar=_REG_COVAR.value)
  iterations = int(result.num_iterations)
  history = np.asarray(result.log_likelihood)[:iterations]
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    for i, value in enumerate(history):
      f.write(json.dumps({'iteration': i + 1, 'mean_log_likelihood': float(value)})
              + '\n')
      logging.info('iteration %d  mean log-likelihood %.6f', i + 1, value)
  summary = {'dataset': dataset, 'num_components': k,
             'covariance_type': _COVARIANCE.value, 'iterations': iterations,
             'converged': bool(result.converged),
             'train_mean_log_likelihood': float(em.mean_log_likelihood(train,
                                                                      result.gmm))}
  if test is not None:
    summary['test_mean_log_likelihood'] = float(em.mean_log_likelihood(test,
                                                                      result.gmm))
  with open(os.path.join(workdir, 'summary.json'), 'w') as f:
    json.dump(summary, f, indent=2)
  if train.shape[1] == 2:
    gmm = jax.tree.map(np.asarray, result.gmm)
    plotting.plot_mixture_2d(
        os.path.join(workdir, 'components.png'), np.asarray(train), gmm.weights,
        gmm.means, gmm.covariances,
        f'{dataset}: EM, K={k}, {iterations} iterations, '
        f'mean log-lik {summary["train_mean_log_likelihood"]:.3f}')
  scores = ', '.join(f'{key} {summary[key]:.4f}' for key in
                     ('train_mean_log_likelihood', 'test_mean_log_likelihood')
                     if key in summary)
  print(f'final ({iterations} iterations, '
        f'{"converged" if summary["converged"] else "not converged"}): {scores}; '
        f'outputs in {workdir}')


if __name__ == '__main__':
  app.run(main)
