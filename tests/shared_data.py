"""Test data (the original MNIST files in ``../shared``, TFDS mock data) and run outputs."""

import os
import subprocess
import sys
from typing import Optional

from tensorflow_datasets import testing as tfds_testing

from vi_gen import records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANUAL_DIR = os.path.join(REPO, '..', 'shared', 'data', 'tfds', 'downloads', 'manual')
_FILES = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
          't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')


def skip_without_mnist_files(test) -> None:
  """Skips ``test``, saying why, when the four original MNIST files are absent.

  CI has them at ``../shared``; a checkout without them cannot read real MNIST
  offline, so these tests have nothing to check there.
  """
  missing = [f for f in _FILES if not os.path.exists(os.path.join(MANUAL_DIR, f))]
  if missing:
    test.skipTest(f'the original MNIST files {", ".join(missing)} are not at '
                  f'{MANUAL_DIR}')


def mock_tfds(num_examples: int = 48):
  """TFDS mock data (random examples of each dataset's real shapes), a context."""
  return tfds_testing.mock_data(num_examples=num_examples,
                                policy=tfds_testing.MockPolicy.USE_CODE)


def run_python(*args: str, env: Optional[dict] = None,
               timeout: int = 300) -> subprocess.CompletedProcess:
  """``python *args`` from the repository root on the CPU, output captured.

  The experiments and benchmarks each define absl flags that clash with one
  another's in a single process, so their command lines are tested this way.
  """
  return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=timeout,
                        env=dict(os.environ, JAX_PLATFORMS='cpu', **(env or {})))


def read_metrics(workdir: str) -> list[dict]:
  """The records of ``workdir/metrics.jsonl``."""
  return records.read_metrics(os.path.join(workdir, 'metrics.jsonl'))


def without_timings(record: dict) -> dict:
  """A metrics record without the fields that vary from run to run (timings)."""
  return {k: v for k, v in record.items()
          if k not in ('stages_per_sec', 'eval_seconds', 'steps_per_sec')}
