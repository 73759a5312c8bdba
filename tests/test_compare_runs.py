"""benchmarks.compare_runs: seeds matched, means, standard errors and the gap.

Run as a subprocess: the benchmark's flags would share this process's absl
flags with the experiments other tests import.
"""

import json
import math
import os

from absl.testing import absltest
import pytest

from tests import shared_data


def _write_run(root, seed, evaluations):
  os.makedirs(os.path.join(root, f'seed{seed}'))
  with open(os.path.join(root, f'seed{seed}', 'metrics.jsonl'), 'w') as f:
    for step, hq in evaluations:
      # A training-only record between evaluations carries no scores.
      f.write(json.dumps({'step': step - 1, 'g_loss': 1.0}) + '\n')
      f.write(json.dumps({'step': step, 'hq': hq}) + '\n')


@pytest.mark.integration
class CompareRunsTest(absltest.TestCase):

  def test_matches_finished_seeds_and_prints_the_gap(self):
    a, b = (self.create_tempdir().full_path for _ in range(2))
    for seed, (early, final) in enumerate([(10.0, 20.0), (30.0, 40.0), (0.0, 60.0)]):
      _write_run(a, seed, [(1000, early), (2000, final)])
    for seed, (early, final) in enumerate([(20.0, 30.0), (40.0, 70.0), (0.0, 80.0)]):
      _write_run(b, seed, [(1000, early), (2000, final)])
    _write_run(b, 3, [(1000, 99.0), (2000, 99.0)])  # not in a: left out
    os.makedirs(os.path.join(a, 'seed4'))  # no metrics: left out
    result = shared_data.run_python('-m', 'benchmarks.compare_runs', f'--a={a}',
                                    f'--b={b}', '--scores=hq', '--late_from=1000')
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertIn('3 seeds finished in both', result.stdout)
    self.assertIn('| 1 | 40 | 70 |', result.stdout)
    # Final hq: a = 20, 40, 60 (mean 40); b = 30, 70, 80 (mean 60). Each SE is
    # the sample standard deviation (ddof 1) over √3.
    se_a = math.sqrt(((20 - 40) ** 2 + 0 + (60 - 40) ** 2) / 2 / 3)
    se_b = math.sqrt(((30 - 60) ** 2 + (70 - 60) ** 2 + (80 - 60) ** 2) / 2 / 3)
    gap = 20 / math.hypot(se_a, se_b)
    self.assertIn(f'hq: a 40.000 ± {se_a:.3f}, b 60.000 ± {se_b:.3f}, '
                  f'b − a +20.000 ({gap:+.2f} SE)', result.stdout)
    # Averaged from stage 1000: a = 15, 35, 30; b = 25, 55, 40.
    self.assertIn('hq_late: a 26.667', result.stdout)
    self.assertIn('b 40.000', result.stdout.split('hq_late:')[1])

  def test_too_few_common_seeds_is_an_error(self):
    a, b = (self.create_tempdir().full_path for _ in range(2))
    _write_run(a, 0, [(1000, 1.0)])
    _write_run(b, 0, [(2000, 1.0)])  # another length: not comparable
    result = shared_data.run_python('-m', 'benchmarks.compare_runs', f'--a={a}',
                                    f'--b={b}', '--scores=hq')
    self.assertNotEqual(result.returncode, 0)
    self.assertIn('0 seed(s) finished in both', result.stderr + result.stdout)


if __name__ == '__main__':
  absltest.main()
