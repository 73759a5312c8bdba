r"""EM for an 8-component Gaussian mixture on ring8 (``python -m experiments.em``).

    python -m experiments.em                                    # this recipe
    python -m benchmarks.em_vs_sklearn                          # against scikit-learn

10,000 points of ring8, K = 8, full covariances, k-means++ start, tolerance
1e-3 on the mean log-likelihood.

Result (``benchmarks/results/recipes.md``, seed 0): converged in 2
iterations at a mean log-likelihood of 4.3074. ``benchmarks/results/em_vs_sklearn.md`` shows vi_gen's EM equal to
scikit-learn's from the same start, and faster.

Cost: about 12 s on 2 CPU cores, most of it start-up and compilation.
"""

import configs


def get_config():
  return configs.base('em')
