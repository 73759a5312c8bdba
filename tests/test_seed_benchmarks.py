"""The benchmarks that train many seeds, with their seeds bundled in one program.

Run as subprocesses: each benchmark defines flags (``seeds``, ``out_dir``, ...)
that the experiments imported by other tests define too.
"""

import json
import os

from absl.testing import absltest

from tests import shared_data


class CollapseTest(absltest.TestCase):

  def test_bundled_arms_score_every_seed(self):
    out_dir = self.create_tempdir().full_path
    result = shared_data.run_python(
        '-m', 'benchmarks.collapse', '--bundle', '--seeds=2', '--steps=3',
        '--datasets=ring8', f'--out_dir={out_dir}', timeout=600)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(os.path.join(out_dir, 'collapse.json')) as f:
      rows = json.load(f)['rows']
    self.assertLen(rows, 4)
    for row in rows:
      self.assertTrue(row['bundled'])
      self.assertLen(row['runs'], 2)
      self.assertEqual(row['diverged'], 0)
      for run in row['runs']:
        self.assertBetween(run['modes'], 0, 8)
    self.assertIn('ring8 control (λ=0) seed 1:', result.stdout)


class SeedsSpeedTest(absltest.TestCase):

  def test_every_stage_and_n_is_measured(self):
    out_dir = self.create_tempdir().full_path
    result = shared_data.run_python(
        '-m', 'benchmarks.seeds_speed', '--num_seeds=1,2', '--stages=3',
        '--steps=1', '--repeats=1', '--notorch', f'--out_dir={out_dir}',
        timeout=600)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(os.path.join(out_dir, 'seeds_speed.json')) as f:
      report = json.load(f)
    self.assertLen(report['rows'], 6)  # 2D default, 2D small, DCGAN; N = 1, 2
    for row in report['rows']:
      self.assertAlmostEqual(row['speedup'], row['bundled_seed_stages_per_s']
                             / row['serial_seed_stages_per_s'], places=6)
      self.assertGreater(row['bundled_gflops'], 0)
    # XLA's memory estimate of a call grows with the seeds it holds.
    by_case = {}
    for row in report['rows']:
      by_case.setdefault(row['networks'], {})[row['num_seeds']] = row['xla_memory_mib']
    for memory in by_case.values():
      self.assertGreater(memory[2], memory[1])
    self.assertIn('| N |', open(os.path.join(out_dir, 'seeds_speed.md')).read())


if __name__ == '__main__':
  absltest.main()
