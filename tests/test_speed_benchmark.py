"""benchmarks.speed: the 2D section (rates, FLOPs, the ceiling of fusion) and exp1.

Run as a subprocess: the benchmark defines flags (``steps``, ``manual_dir``, ...)
that the experiments imported by other tests define too.
"""

import json
import os

from absl.testing import absltest
import pytest

from tests import shared_data


@pytest.mark.integration
class Toy2DSectionTest(absltest.TestCase):

  def test_rates_flops_and_ceiling(self):
    out_dir = self.create_tempdir().full_path
    result = shared_data.run_python('-m', 'benchmarks.speed', '--sections=matmul,toy2d',
                                    '--fused_stages=20', f'--out_dir={out_dir}',
                                    timeout=600)
    self.assertEqual(result.returncode, 0, result.stderr)
    with open(os.path.join(out_dir, 'speed.json')) as f:
      report = json.load(f)
    machine = report['machine_gflops']
    default, small = report['toy2d'].values()
    for rates in (default, small):
      self.assertEqual(rates['fused_stages_per_call'], 20)
      self.assertAlmostEqual(rates['speedup'], rates['fused_stages_per_s']
                             / rates['per_call_stages_per_s'])
      # The ceiling: the matmul rate over one stage's FLOPs, against the per-call rate.
      ceiling = machine * 1e9 / (rates['mflop_per_stage'] * 1e6)
      self.assertAlmostEqual(rates['ceiling_stages_per_s'] / ceiling, 1.0, places=6)
      self.assertAlmostEqual(rates['ceiling_speedup'] * rates['per_call_stages_per_s']
                             / ceiling, 1.0, places=6)
    # The default ring8 stage (G 4×400, D 3×200×5 maxout, batch 100) is one D and
    # one G update: its dense layers' forward passes alone are ~0.43 GFLOP
    # (G twice, D on real and fake), backward passes about twice that. The
    # cost analysis counts the loop's body once, not per stage run.
    self.assertBetween(default['mflop_per_stage'], 800, 2000)
    self.assertLess(small['mflop_per_stage'], default['mflop_per_stage'] / 100)
    with open(os.path.join(out_dir, 'speed.md')) as f:
      text = f.read()
    self.assertIn(f'| default networks | {default["per_call_stages_per_s"]:.0f} | ', text)
    self.assertIn(f'| {default["mflop_per_stage"]:.1f} | '
                  f'{default["ceiling_stages_per_s"]:.0f} | '
                  f'{default["ceiling_speedup"]:.1f}× |', text)


@pytest.mark.integration
class Exp1SectionTest(absltest.TestCase):

  def test_exp1_stage_takes_no_anchor_pass(self):
    # 28×28 alone, to keep the test short.
    out_dir = self.create_tempdir().full_path
    script = ('from absl import app; from benchmarks import speed; '
              'speed.DCGAN_CASES = speed.DCGAN_CASES[:1]; '
              'app.run(speed.main, argv=["speed", "--sections=exp1", "--steps=1", '
              f'"--repeats=1", "--out_dir={out_dir}"])')
    result = shared_data.run_python('-c', script, timeout=600)
    self.assertEqual(result.returncode, 0, result.stderr)
    with open(os.path.join(out_dir, 'speed.json')) as f:
      report = json.load(f)
    plain, regularised = report['exp1']
    self.assertEqual((plain['model'], plain['reg_lambda'], regularised['reg_lambda']),
                     ('DCGAN 28×28×1', 0.0, 5.0))
    # G° = G at the first G update and G°(z) = the first update's G(z) at the
    # second: λ adds only the drift's element-wise arithmetic. Its two G
    # forward passes would add 1.57 GFLOP (7.6%; the stage before they went).
    self.assertBetween(regularised['gflop'] / plain['gflop'], 1.0, 1.001)
    self.assertAlmostEqual(report['exp1_reg_overhead']['DCGAN 28×28×1'],
                           regularised['seconds'] / plain['seconds'])
    with open(os.path.join(out_dir, 'speed.md')) as f:
      self.assertIn("The paper's exp1 stage (the image runs' default", f.read())


if __name__ == '__main__':
  absltest.main()
