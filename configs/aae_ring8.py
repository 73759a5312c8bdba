r"""The adversarial autoencoder on ring8 (``python -m experiments.aae``).

    python -m experiments.aae                                   # this recipe
    python -m experiments.aae --dataset=grid25 --recon_lambda=1

The GAN's 2D networks for the decoder G, an encoder E of the same MLP, a
maxout latent D(z), batch 100, Adam(1e-3, β₁ = 0.5), 4,000 stages of one D and
one E/G update on eq. 34 with λ = 10 on the reconstruction's mean squared
error.

Result (``benchmarks/results/recipes.md``, seed 0, since maxout by index):
6 modes, 6.3% high-quality samples, reverse KL 0.666; reconstruction error
0.040, 1.0% of reconstructions in their point's mode, code MMD² 0.046. The
codes match the prior; the decoder's samples do not yet match the data at
this budget.

Cost: about 60 s on 2 CPU cores.
"""

import configs


def get_config():
  config = configs.base('aae')
  config.dataset = 'ring8'
  return config
