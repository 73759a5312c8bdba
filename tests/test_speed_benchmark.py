"""benchmarks.speed's 2D section: its rates, FLOPs and the fusion ceiling."""

from absl.testing import absltest

from benchmarks import speed

SMALL = dict(g_hidden=8, g_depth=1, d_hidden=4, d_depth=1, d_pieces=2)


class Toy2DRatesTest(absltest.TestCase):

  def test_rates_flops_and_ceiling(self):
    rates = speed.toy2d_rates(20, machine_gflops=50.0, **SMALL)
    self.assertEqual(rates['fused_stages_per_call'], 20)
    for key in ('per_call_stages_per_s', 'fused_stages_per_s', 'mflop_per_stage'):
      self.assertGreater(rates[key], 0, key)
    self.assertAlmostEqual(rates['speedup'], rates['fused_stages_per_s']
                           / rates['per_call_stages_per_s'])
    # The ceiling is the matmul rate over one stage's FLOPs, against the per-call rate.
    ceiling = 50e9 / (rates['mflop_per_stage'] * 1e6)
    self.assertAlmostEqual(rates['ceiling_stages_per_s'] / ceiling, 1.0, places=6)
    self.assertAlmostEqual(rates['ceiling_speedup'] * rates['per_call_stages_per_s']
                           / ceiling, 1.0, places=6)
    # A stage is one D and one G update on batch 100; its dense layers alone
    # (forward and backward) need more FLOPs than one G forward pass.
    g_forward = 2 * 100 * (speed.gan_loop.default_config('ring8').latent_dim * 8 + 8 * 2)
    self.assertGreater(rates['mflop_per_stage'] * 1e6, g_forward)

    text = speed.markdown({'device': 'cpu', 'host': 'test', 'jax_version': '0',
                           'toy2d': {'tiny networks': rates}})
    self.assertIn(f'| tiny networks | {rates["per_call_stages_per_s"]:.0f} | ', text)
    self.assertIn(f'| {rates["ceiling_speedup"]:.1f}× |', text)

  def test_no_ceiling_without_a_matmul_rate(self):
    rates = speed.toy2d_rates(10, **SMALL)
    self.assertNotIn('ceiling_speedup', rates)
    text = speed.markdown({'device': 'cpu', 'host': 'test', 'jax_version': '0',
                           'toy2d': {'tiny networks': rates}})
    self.assertIn('| – | – |', text)


if __name__ == '__main__':
  absltest.main()
