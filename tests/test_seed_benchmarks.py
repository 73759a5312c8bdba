"""The benchmarks that train many seeds, with their seeds bundled in one program.

Run as subprocesses: each benchmark defines flags (``seeds``, ``out_dir``, ...)
that the experiments imported by other tests define too.
"""

import json
import os
import shutil

from absl.testing import absltest
import numpy as np
import pytest

from tests import shared_data


@pytest.mark.integration
class CollapseTest(absltest.TestCase):

  def _run(self, out_dir, *flags):
    result = shared_data.run_python(
        '-m', 'benchmarks.collapse', '--seeds=2', '--first_seed=3',
        '--config.steps=3', '--datasets=ring8', '--name=t', f'--out_dir={out_dir}',
        *flags, timeout=600)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(os.path.join(out_dir, 't.json')) as f:
      return json.load(f)['rows'], result.stdout

  def test_bundled_arms_score_every_seed(self):
    rows, stdout = self._run(self.create_tempdir().full_path, '--bundle')
    self.assertLen(rows, 4)
    for row in rows:
      self.assertTrue(row['bundled'])
      self.assertEqual([r['seed'] for r in row['runs']], [3, 4])
      self.assertEqual(row['diverged'], 0)
      for run in row['runs']:
        self.assertBetween(run['modes'], 0, 8)
    self.assertIn('ring8 control (λ=0) seed 4:', stdout)

  def test_lambda_sweep_is_paired_with_its_control_and_runs_are_reused(self):
    out_dir = self.create_tempdir().full_path
    flags = ('--arms=control,previous', '--lambdas_previous=10,1e6', '--nobundle')
    rows, _ = self._run(out_dir, *flags)
    self.assertEqual([r['arm'] for r in rows],
                     ['control (λ=0)', 'previous (λ=10)', 'previous (λ=1e+06)'])
    control = rows[0]
    self.assertNotIn('vs_control', control)
    for row in rows[1:]:
      self.assertEqual(row['control'], 'control (λ=0)')
      for key in ('modes', 'hq', 'reverse_kl'):
        differences = [a[key] - c[key] for a, c in zip(row['runs'], control['runs'])]
        self.assertAlmostEqual(row['vs_control'][key], np.mean(differences))
    with open(os.path.join(out_dir, 't.runs.jsonl')) as f:
      self.assertLen(f.readlines(), 6)
    # A second invocation takes every run from the record: nothing is trained.
    again, stdout = self._run(out_dir, *flags)
    self.assertNotIn(' seed 3:', stdout)
    self.assertEqual(again, rows)
    with open(os.path.join(out_dir, 't.runs.jsonl')) as f:
      self.assertLen(f.readlines(), 6)

  def test_shards_share_the_record_and_the_table_takes_it(self):
    out_dir = self.create_tempdir().full_path
    flags = ('--arms=control,previous', '--nobundle')
    for shard in ('0/2', '1/2'):
      result = shared_data.run_python(
          '-m', 'benchmarks.collapse', '--seeds=2', '--first_seed=3',
          '--config.steps=3', '--datasets=ring8', '--name=t',
          f'--out_dir={out_dir}', f'--shard={shard}', *flags, timeout=600)
      self.assertEqual(result.returncode, 0, result.stderr[-3000:])
      self.assertIn(f'shard {shard}: its 2 runs are recorded', result.stdout)
      self.assertEqual(result.stdout.count(' seed '), 2)
      self.assertFalse(os.path.exists(os.path.join(out_dir, 't.json')))
      if shard == '0/2':  # control seed 3 and previous seed 3 are in
        partial, stdout = self._run(out_dir, '--table_only', *flags)
        self.assertNotIn(' seed ', stdout)  # --table_only trains nothing
        self.assertEqual([r['seeds'] for r in partial], [1, 1])
        self.assertEqual(partial[1]['vs_control']['seeds'], 1)
        self.assertIn('Not run (in the record): ring8 control (λ=0): 1 of 2 seeds not run', stdout)
        self.assertTrue(os.path.exists(os.path.join(out_dir, 't.png')))
        for suffix in ('json', 'md'):  # so that shard 1/2 is seen to write none
          os.remove(os.path.join(out_dir, f't.{suffix}'))
    rows, stdout = self._run(out_dir, *flags)
    self.assertNotIn(' seed 3:', stdout)  # nothing left to train
    self.assertEqual([len(r['runs']) for r in rows], [2, 2])
    self.assertIn('vs_control', rows[1])


@pytest.mark.integration
class StabilityTest(absltest.TestCase):

  def test_every_cell_is_scored_and_each_run_has_the_outcome_its_scores_give(self):
    shared_data.skip_without_mnist_files(self)
    out_dir = self.create_tempdir().full_path
    flags = ('-m', 'benchmarks.stability', '--tasks=ring8,mnist_exp1', '--seeds=2',
             '--steps_2d=3', '--steps_exp1=2', '--mnist_samples=200',
             '--lr_multipliers=1', '--g_repeats=1,2', '--name=t',
             '--lambdas=ring8:100,mnist_exp1:5', f'--out_dir={out_dir}',
             f'--workdir={out_dir}/runs', f'--manual_dir={shared_data.MANUAL_DIR}')
    result = shared_data.run_python(*flags, timeout=900)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(os.path.join(out_dir, 't.json')) as f:
      report = json.load(f)
    rows = {(r['task'], r['reg_lambda'], r['g_repeats']): r for r in report['rows']}
    self.assertLen(rows, 8)  # 2 tasks × 2 λ × 1 rate × 2 G updates
    for (task, reg_lambda, _), row in rows.items():
      self.assertEqual(row['seeds'], 2)
      self.assertEqual(sum(row[k] for k in ('diverged', 'unfit', 'collapsed',
                                            'succeeded')), 2)
      for run in row['runs']:
        if run['diverged_at']:
          expected = 'diverged'
        elif task == 'ring8':
          expected = ('unfit' if run['hq'] < 50 else 'collapsed'
                      if run['reverse_kl'] >= np.log(4) else 'succeeded')
        else:
          expected = 'collapsed' if run['digit_kl'] >= np.log(4) else 'succeeded'
        self.assertEqual(run['outcome'], expected)
    # exp1 with one G update per stage: the term cannot act (gradient 0 at G =
    # G°), so its λ > 0 cell is the λ = 0 runs, trained once.
    self.assertTrue(rows['mnist_exp1', 5.0, 1]['inert'])
    self.assertEqual(rows['mnist_exp1', 5.0, 1]['runs'],
                     rows['mnist_exp1', 0.0, 1]['runs'])
    self.assertFalse(rows['mnist_exp1', 5.0, 2]['inert'])
    self.assertFalse(rows['ring8', 100.0, 1]['inert'])  # the previous anchor acts
    # Each acting cell with the term: its paired difference from the λ = 0
    # runs of the same seeds and setting, in the task's main score.
    for (task, reg_lambda, g_repeats), row in rows.items():
      if reg_lambda == 0 or row['inert']:
        self.assertNotIn('vs_control', row)
        continue
      key = 'reverse_kl' if task == 'ring8' else 'fd'
      twin = {r['seed']: r for r in rows[task, 0.0, g_repeats]['runs']}
      diffs = [r[key] - twin[r['seed']][key] for r in row['runs']
               if not r['diverged_at'] and not twin[r['seed']]['diverged_at']]
      self.assertEqual(row['vs_control']['score'], key)
      self.assertEqual(row['vs_control']['seeds'], len(diffs))
      if diffs:
        np.testing.assert_allclose(row['vs_control'][key], np.mean(diffs))
    self.assertIn('| FD vs λ = 0, paired |', result.stdout)
    with open(os.path.join(out_dir, 't.runs.jsonl')) as f:
      self.assertLen(f.readlines(), 14)
    self.assertTrue(os.path.exists(os.path.join(out_dir, 't.png')))
    self.assertIn('† The λ = 0 runs', result.stdout)
    self.assertRegex(result.stdout, r'Cells that train \(≥ 3 runs succeed\): '
                     r'0 of 2 at λ = 0, 0 of 2 at λ = 100\.')
    self.assertFalse(os.path.exists(os.path.join(
        out_dir, 'runs', 'mnist_exp1_lambda5_lr1x_g2_seed1', 'checkpoints')))
    # --table_only trains nothing and writes the same rows.
    again = shared_data.run_python(*flags, '--table_only', timeout=600)
    self.assertEqual(again.returncode, 0, again.stderr[-3000:])
    self.assertNotIn(' seed ', again.stdout)
    with open(os.path.join(out_dir, 't.json')) as f:
      self.assertEqual(json.load(f)['rows'], report['rows'])


@pytest.mark.integration
class StackedMnistTest(absltest.TestCase):

  def test_shards_train_the_runs_and_the_table_takes_them(self):
    shared_data.skip_without_mnist_files(self)
    out_dir = self.create_tempdir().full_path
    flags = ('-m', 'benchmarks.stacked_mnist', '--seeds=1', '--exp1_steps=2',
             '--evals=2', '--width=8', '--schedules=exp1', '--lambdas=0,50',
             '--name=t', f'--out_dir={out_dir}', f'--workdir={out_dir}/runs',
             f'--manual_dir={shared_data.MANUAL_DIR}')
    empty = shared_data.run_python(*flags, '--table_only', timeout=600)
    self.assertEqual(empty.returncode, 0, empty.stderr[-3000:])
    self.assertIn('No runs recorded', empty.stdout)
    for shard in ('0/2', '1/2'):
      result = shared_data.run_python(*flags, f'--shard={shard}', timeout=900)
      self.assertEqual(result.returncode, 0, result.stderr[-3000:])
      self.assertIn(f'shard {shard}: its 1 runs are trained', result.stdout)
      self.assertFalse(os.path.exists(os.path.join(out_dir, 't.json')))
    # --table_only trains nothing: the same table as the full invocation's.
    only = shared_data.run_python(*flags, '--table_only', timeout=600)
    self.assertEqual(only.returncode, 0, only.stderr[-3000:])
    with open(os.path.join(out_dir, 't.json')) as f:
      rows_only = json.load(f)['rows']
    result = shared_data.run_python(*flags, timeout=900)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(os.path.join(out_dir, 't.json')) as f:
      rows = json.load(f)['rows']
    self.assertEqual(rows_only, rows)
    self.assertEqual([r['reg_lambda'] for r in rows], [0.0, 50.0])
    # λ = 50 against the control of its seed.
    self.assertNotIn('vs_control', rows[0])
    versus = rows[1]['vs_control']
    self.assertEqual(versus['seeds'], 1)
    self.assertAlmostEqual(versus['stacked_kl'], rows[1]['runs'][0]['stacked_kl']
                           - rows[0]['runs'][0]['stacked_kl'], places=6)
    for row in rows:
      run, = row['runs']
      self.assertEqual([step for step, _ in run['curve']], [1, 2])
      self.assertEqual([step for step, *_ in run['modes_curve']], [1, 2])
      self.assertBetween(run['stacked_modes'], 1, 1000)
    self.assertTrue(os.path.exists(os.path.join(out_dir, 't.png')))
    # The finished runs are in the record: without their workdirs (a new
    # checkout) nothing is trained again and the table is the same.
    with open(os.path.join(out_dir, 't.runs.jsonl')) as f:
      self.assertLen(f.readlines(), 2)
    shutil.rmtree(os.path.join(out_dir, 'runs'))
    again = shared_data.run_python(*flags, timeout=900)
    self.assertEqual(again.returncode, 0, again.stderr[-3000:])
    self.assertFalse(os.path.exists(os.path.join(out_dir, 'runs')))
    with open(os.path.join(out_dir, 't.json')) as f:
      self.assertEqual(json.load(f)['rows'], rows)


@pytest.mark.integration
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
