r"""vi_gen's EM against scikit-learn's GaussianMixture, from the same initialisation.

    python -m benchmarks.em_vs_sklearn

For N ∈ {10⁴, 10⁵} points in d ∈ {2, 50} dimensions drawn from a random
10-component mixture, fits K = 10 full-covariance components with both: the same
k-means++ start (vi_gen's, passed to scikit-learn as weights/means/precisions),
the same tolerance (1e-3 on the mean log-likelihood), ridge (1e-6) and iteration
cap (100), in float64. Reports the final mean log-likelihood of each, their
relative difference, the iteration counts, and wall time: scikit-learn's
``fit`` against vi_gen's jitted ``fit`` (timed after its compilation, which is
reported separately). Writes ``--out_dir/em_vs_sklearn.{md,json}``.
scikit-learn is a benchmark and test dependency only.
"""

import os
import time

from absl import app
from absl import flags
import jax
import numpy as np

from benchmarks import stats
from vi_gen import em

_SIZES = flags.DEFINE_list('sizes', ['10000', '100000'], 'Values of N.')
_DIMS = flags.DEFINE_list('dims', ['2', '50'], 'Values of d.')
_COMPONENTS = flags.DEFINE_integer('components', 10, 'K.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results', 'Output directory.')


def mixture_data(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
  """N points from a random K-component full-covariance mixture in d dimensions."""
  rng = np.random.default_rng(seed)
  means = rng.normal(size=(k, d)) * 3
  factors = rng.normal(size=(k, d, d)) / np.sqrt(d)
  labels = rng.integers(0, k, n)
  noise = np.einsum('nij,nj->ni', factors[labels], rng.normal(size=(n, d)))
  return means[labels] + noise


def run_case(n: int, d: int, k: int) -> dict:
  from sklearn import mixture  # pylint: disable=g-import-not-at-top
  x = jax.numpy.asarray(mixture_data(n, d, k))
  init = em.initialize(x, em.kmeans_plus_plus(jax.random.PRNGKey(0), x, k))
  settings = dict(max_iter=100, tol=1e-3, reg_covar=1e-6)

  start = time.perf_counter()
  jax.block_until_ready(em.fit(x, init, **settings))
  first_call = time.perf_counter() - start
  start = time.perf_counter()
  ours = jax.block_until_ready(em.fit(x, init, **settings))
  ours_seconds = time.perf_counter() - start
  ours_ll = float(em.mean_log_likelihood(x, ours.gmm))

  x_np = np.asarray(x)
  start = time.perf_counter()
  reference = mixture.GaussianMixture(
      k, covariance_type='full', weights_init=np.asarray(init.weights),
      means_init=np.asarray(init.means),
      precisions_init=np.linalg.inv(np.asarray(init.covariances)),
      **settings).fit(x_np)
  sklearn_seconds = time.perf_counter() - start
  sklearn_ll = float(reference.score(x_np))
  return {'n': n, 'd': d, 'k': k, 'vi_gen_mean_log_likelihood': ours_ll,
          'sklearn_mean_log_likelihood': sklearn_ll,
          'relative_difference': abs(ours_ll - sklearn_ll) / abs(sklearn_ll),
          'vi_gen_iterations': int(ours.num_iterations),
          'sklearn_iterations': int(reference.n_iter_),
          'vi_gen_seconds': ours_seconds, 'vi_gen_compile_seconds': first_call - ours_seconds,
          'sklearn_seconds': sklearn_seconds, 'speedup': sklearn_seconds / ours_seconds}


def main(argv):
  del argv
  jax.config.update('jax_enable_x64', True)
  rows = []
  for n in map(int, _SIZES.value):
    for d in map(int, _DIMS.value):
      row = run_case(n, d, _COMPONENTS.value)
      rows.append(row)
      print(row, flush=True)
  lines = [f'Measured by `python -m benchmarks.em_vs_sklearn` on '
           f'{jax.devices()[0].platform}, {os.cpu_count()} CPU cores: K = '
           f'{_COMPONENTS.value}, full covariances, float64, tol 1e-3, same '
           'k-means++ start.', '',
           '| N | d | vi_gen mean log-lik | sklearn mean log-lik | relative diff | '
           'iterations (vi_gen/sklearn) | vi_gen s | sklearn s | sklearn ÷ vi_gen |',
           '|---|---|---|---|---|---|---|---|---|']
  lines += [f'| {r["n"]} | {r["d"]} | {r["vi_gen_mean_log_likelihood"]:.8f} | '
            f'{r["sklearn_mean_log_likelihood"]:.8f} | {r["relative_difference"]:.1e} | '
            f'{r["vi_gen_iterations"]}/{r["sklearn_iterations"]} | '
            f'{r["vi_gen_seconds"]:.3f} | {r["sklearn_seconds"]:.3f} | '
            f'{r["speedup"]:.2f}× |' for r in rows]
  table = '\n'.join(lines) + '\n'
  print('\n' + table)
  stats.write_results(_OUT_DIR.value, 'em_vs_sklearn', table, rows)


if __name__ == '__main__':
  app.run(main)
