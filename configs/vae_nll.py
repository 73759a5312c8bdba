r"""The VAE budget behind the reported test NLL: Burda et al.'s 3,280 epochs at batch 20.

    python -m benchmarks.vae_nll --epochs=3280 --batch_size=20          # the table
    python -m experiments.vae --config=configs/vae_nll.py --manual_dir=DIR   # the same run

784-200-200-50 (tanh, Bernoulli), Adam(1e-3) under Burda et al.'s schedule
(eight stages of 3^i passes at lr·10^(−i/7)), batch 20, 9,840,000 steps run
20 per jitted call, evaluated 20 times, test NLL from k = 5,000.

Result (``benchmarks/results/vae_nll_epochs3280_batch20.md``, seed 0): test
NLL 86.42 nats, test ELBO −90.52, against the published 86.76.

Cost: about 6 hours on 2 CPU cores (455 steps/s); resumable in pieces.
"""

import configs


def get_config():
  config = configs.base('vae')
  config.batch_size = 20
  config.lr_schedule = 'iwae'
  config.steps = 3280 * 60_000 // 20
  config.steps_per_call = 20
  config.eval_every = config.checkpoint_every = config.steps // 20
  return config
