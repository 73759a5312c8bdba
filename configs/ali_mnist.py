r"""ALI (eq. 43) on MNIST with the paper's DCGAN: the ALI-loss benchmark's MNIST cell.

    python -m experiments.ali --config=configs/ali_mnist.py --manual_dir=DIR
    python -m benchmarks.ali_losses --datasets=mnist            # the three losses, 5 seeds

G is the paper's DCGAN; E and the joint D(x, z) use its discriminator's
trunk; z ∈ R¹⁰⁰, batch 64, Adam(2e-4, β₁ = 0.5), 1,000 stages of one D and
one E/G update, FD of 10,000 samples. ``DIR`` holds MNIST's four original
files (TFDS's manual_dir), for offline machines.

Result (``benchmarks/results/ali_losses.md``, 5 seeds): FD 297 ± 14 (eq. 41:
3142 ± 58; eq. 42: 2596 ± 56).

Cost: a few minutes per run on 2 CPU cores.
"""

import configs


def get_config():
  config = configs.paper_dcgan(configs.base('ali'), 'mnist', 'exp1')
  config.ali_loss = 'nonsaturating'
  config.steps = 1000
  config.eval_every = config.checkpoint_every = 1000
  return config
