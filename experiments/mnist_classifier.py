r"""(Re)builds the fixed MNIST classifier used by every image metric.

    TFDS_MANUAL_DIR=/path/to/mnist python -m experiments.mnist_classifier

Trains from --seed, reports the test accuracy, refuses to write weights below
--min_accuracy, and writes vi_gen/metrics/assets/mnist_classifier.{msgpack,json}
(or --output). See vi_gen/metrics/mnist_classifier.py.
"""

import dataclasses
import sys
import time

from absl import app
from absl import flags
from absl import logging
import jax

from experiments import quiet_logs
from vi_gen.data import images
from vi_gen.metrics import mnist_classifier

_DEFAULTS = mnist_classifier.TrainConfig()
_SEED = flags.DEFINE_integer('seed', _DEFAULTS.seed, 'Initialisation and data-order seed.')
_EPOCHS = flags.DEFINE_integer('epochs', _DEFAULTS.epochs, 'Training epochs.')
_OUTPUT = flags.DEFINE_string('output', mnist_classifier.DEFAULT_PATH,
                              'Where to write the weights (.msgpack, plus .json).')
_MIN_ACCURACY = flags.DEFINE_float('min_accuracy', 0.99,
                                   'Fail instead of writing weights below this.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data_dir.')
_MANUAL_DIR = flags.DEFINE_string(
    'manual_dir', None, f'TFDS manual_dir (default: ${images.MANUAL_DIR_ENV}).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  quiet_logs.install()
  if _EPOCHS.value < 1:
    print(f'experiments.mnist_classifier: error: epochs must be >= 1, got '
          f'{_EPOCHS.value}', file=sys.stderr)
    sys.exit(2)
  config = mnist_classifier.TrainConfig(seed=_SEED.value, epochs=_EPOCHS.value)
  kwargs = dict(data_dir=_DATA_DIR.value, manual_dir=_MANUAL_DIR.value)
  try:
    images.require('mnist', **kwargs)
  except images.DataUnavailableError as e:
    print(f'experiments.mnist_classifier: error: {e}', file=sys.stderr)
    sys.exit(2)
  train_x, train_y = images.load_arrays('mnist', 'train', **kwargs)
  test_x, test_y = images.load_arrays('mnist', 'test', **kwargs)
  start = time.perf_counter()
  params = mnist_classifier.train(train_x, train_y, config)
  seconds = time.perf_counter() - start
  acc = mnist_classifier.accuracy(params, test_x, test_y)
  logging.info('test accuracy %.4f after %.0f s', acc, seconds)
  if acc < _MIN_ACCURACY.value:
    print(f'experiments.mnist_classifier: error: test accuracy {acc:.4f} < '
          f'{_MIN_ACCURACY.value}; weights not written', file=sys.stderr)
    sys.exit(1)
  record = mnist_classifier.save(params, {
      **dataclasses.asdict(config), 'test_accuracy': acc,
      'train_seconds': round(seconds, 1), 'jax': jax.__version__,
      'command': 'python -m experiments.mnist_classifier'}, _OUTPUT.value)
  print(f'test accuracy {acc:.4f}; wrote {_OUTPUT.value} (sha256 {record["sha256"][:12]}…)')


if __name__ == '__main__':
  app.run(main)
