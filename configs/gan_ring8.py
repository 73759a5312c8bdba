r"""The default run: the GAN with eq. 26's regulariser on ring8 (``python -m experiments.gan``).

    python -m experiments.gan                                   # this recipe
    python -m experiments.gan --reg_lambda=0                    # its λ = 0 control

PacGAN's 2D networks (MLP G with BatchNorm, maxout D), batch 100,
Adam(1e-3, β₁ = 0.5), 4,000 stages of one D and one G update, λ = 100 with
G° = G before the previous G update (eq. 26 on the element-wise mean: in 2D a
G update moves G(z) by about 1e-3, so a smaller λ does nothing).

Result: an undertrained GAN. Seed 0 ends at 6 modes, 41.0% high-quality
samples, reverse KL 1.325 here (``benchmarks/results/recipes.md``); over
seeds 0–9 (one run each) 3–8 modes, 23.6–75.1% HQ, KL 0.71–1.84, means
6.0 ± 0.4 / 42.4 ± 4.9 / 1.08 ± 0.11, far from the published GAN row's 98.2%
HQ.

Cost: about 45 s on 2 CPU cores.
"""

import configs


def get_config():
  config = configs.base('gan')
  config.dataset = 'ring8'
  config.reg_lambda = 100.0
  return config
