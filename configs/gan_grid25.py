r"""The GAN on grid25 with the paper's stage schedule: the collapse benchmark's regularised arm.

    python -m experiments.gan --config=configs/gan_grid25.py
    python -m experiments.gan --config=configs/gan_grid25.py --reg_lambda=0   # its control

One D update, then two G updates on the same z with G° = G at the stage start,
λ = 10; otherwise the 2D defaults (PacGAN's networks, batch 100, Adam(1e-3,
β₁ = 0.5)), for 1,000 stages.

Result (``benchmarks/results/collapse.md``, 10 seeds, ``python -m
benchmarks.collapse``): 17.3 ± 0.6 of 25 modes, 9.0 ± 1.9% high-quality
samples, reverse KL 1.026 ± 0.109; its λ = 0 control 12.5 ± 1.3 modes, 2.3 ±
0.5%, 1.199 ± 0.173. Both undertrained: the published GAN row is 17.3 modes
at 94.8% HQ.

Cost: about 20 s per seed on 2 CPU cores.
"""

import configs


def get_config():
  config = configs.base('gan')
  config.dataset = 'grid25'
  config.anchor = 'stage'
  config.g_repeats = 2
  config.reg_lambda = 10.0
  config.steps = 1000
  return config
