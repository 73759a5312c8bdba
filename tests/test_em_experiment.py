"""``python -m experiments.em`` end to end (in a subprocess: its flags are its own)."""

import json
import os

from absl.testing import absltest
import pytest

from tests import shared_data

def _run(*flags):
  return shared_data.run_python('-m', 'experiments.em', *flags)


@pytest.mark.integration
class EMExperimentTest(absltest.TestCase):

  def test_2d_fit_writes_history_summary_and_picture(self):
    workdir = self.create_tempdir().full_path
    result = _run('--dataset=grid25', '--num_samples=2000', '--num_components=10',
                  f'--workdir={workdir}')
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertIn('final (', result.stdout)
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      history = [json.loads(line)['mean_log_likelihood'] for line in f]
    with open(os.path.join(workdir, 'summary.json')) as f:
      summary = json.load(f)
    self.assertEqual(summary['iterations'], len(history))
    self.assertGreater(len(history), 2)  # 10 components for 25 modes: real work
    self.assertTrue(all(b >= a - 1e-4 for a, b in zip(history, history[1:])))
    self.assertGreaterEqual(summary['train_mean_log_likelihood'], history[-1] - 1e-4)
    self.assertTrue(os.path.exists(os.path.join(workdir, 'components.png')))

  def test_mnist_with_pca(self):
    shared_data.skip_without_mnist_files(self)
    workdir = self.create_tempdir().full_path
    result = _run('--dataset=mnist', '--pca_dim=5', '--num_components=3',
                  '--max_iter=3', f'--manual_dir={shared_data.MANUAL_DIR}',
                  f'--workdir={workdir}')
    self.assertEqual(result.returncode, 0, result.stderr)
    with open(os.path.join(workdir, 'summary.json')) as f:
      summary = json.load(f)
    self.assertEqual(summary['iterations'], 3)
    self.assertIn('test_mean_log_likelihood', summary)


if __name__ == '__main__':
  absltest.main()
