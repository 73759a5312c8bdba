r"""Stacked MNIST (1,000 modes) with the paper's experiment-2 schedule, λ = 5.

    python -m experiments.gan --config=configs/gan_stacked_mnist_exp2.py
    python -m experiments.gan --config=configs/gan_stacked_mnist_exp2.py --reg_lambda=0

The paper's DCGAN at 28×28×3 without BatchNorm, schedule exp2 (five D
updates, one snapshot, then five minibatches of z × two G updates), batch 64,
Adam(2e-4, β₁ = 0.5), 240 stages (as many D updates as exp1's 1,200), scored
on 26,000 samples.

Result (``benchmarks/results/stacked_mnist.md``, 3 seeds): 603.3 ± 74.4
modes, KL 1.871 ± 0.173, FD 2957 ± 278; λ = 0: 266.0 ± 210.8, 3.775 ± 1.198,
5222 ± 1302. The difference is within about one standard error of either arm.

Cost: about 6 minutes per run on 2 CPU cores.
"""

import configs


def get_config():
  config = configs.paper_dcgan(configs.base('gan'), 'stacked_mnist', 'exp2')
  config.reg_lambda = 5.0
  config.steps = 240
  config.eval_every = config.checkpoint_every = 60
  return config
