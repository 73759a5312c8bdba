r"""EM for a 10-component Gaussian mixture on MNIST after PCA to 50 dimensions.

    python -m experiments.em --config=configs/em_mnist.py --manual_dir=DIR

Pixels in [0, 1] projected on the first 50 principal components of the
training set, K = 10, full covariances; the test set's mean log-likelihood
under the fitted mixture is reported beside the training set's. ``DIR`` holds
MNIST's four original files (TFDS's manual_dir), for offline machines.

Result: recorded in ``benchmarks/results/recipes.md`` when run there.

Cost: under a minute on 2 CPU cores.
"""

import configs


def get_config():
  config = configs.base('em')
  config.dataset = 'mnist'
  config.num_components = 10
  return config
