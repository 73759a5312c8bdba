r"""EM for an 8-component Gaussian mixture on ring8 (``python -m experiments.em``).

    python -m experiments.em                                    # this recipe
    python -m benchmarks.em_vs_sklearn                          # against scikit-learn

10,000 points of ring8, K = 8, full covariances, k-means++ start, tolerance
1e-3 on the mean log-likelihood.

Result: recorded in ``benchmarks/results/recipes.md`` when run there;
``benchmarks/results/em_vs_sklearn.md`` shows vi_gen's EM equal to
scikit-learn's from the same start, and faster.

Cost: seconds on 2 CPU cores.
"""

import configs


def get_config():
  return configs.base('em')
