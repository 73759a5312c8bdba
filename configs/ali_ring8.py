r"""ALI on ring8 with the paper's E/G loss, eq. 41 (``python -m experiments.ali``).

    python -m experiments.ali                                   # this recipe
    python -m experiments.ali --ali_loss=nonsaturating          # eq. 43 (minimax: eq. 42)
    python -m benchmarks.ali_losses --datasets=ring8            # the three losses, 5 seeds

The GAN's 2D networks for G, an encoder of the same MLP and a joint maxout D
that embeds x and z, batch 100, Adam(1e-3, β₁ = 0.5), 4,000 stages of one D
and one E/G update; λ = 0 (eq. 41 as the paper writes it).

Result (``benchmarks/results/ali_losses.md``, 5 seeds): eq. 41 ends at 1.60 ±
0.81 modes, 0.78 ± 0.58% high-quality samples, reverse KL 1.78 ± 0.20, the
worst of the three losses; eq. 43 reaches KL 0.60 ± 0.13.

Cost: about 70 s per run on 2 CPU cores since maxout by index (3.5 minutes
before). Seed 0 here ends at 1 mode, KL 2.079 (``recipes.md``); its record in
``ali_losses.json``, made before that change, at 0 modes, KL 2.079.
"""

import configs


def get_config():
  config = configs.base('ali')
  config.dataset = 'ring8'
  return config
