r"""Stacked MNIST (1,000 modes) with the paper's experiment-1 schedule, λ = 5.

    python -m experiments.gan --config=configs/gan_stacked_mnist_exp1.py
    python -m benchmarks.stacked_mnist                 # both schedules, λ ∈ {0, 5}, 3 seeds

The paper's DCGAN at 28×28×3 (three MNIST digits as channels), schedule exp1
(BatchNorm; one D update, snapshot, two G updates on one z), batch 64,
Adam(2e-4, β₁ = 0.5), 1,200 stages, scored on 26,000 samples.

Result (``benchmarks/results/stacked_mnist.md``, 3 seeds): 943.0 ± 4.5 modes
of 1,000, KL 0.845 ± 0.021, FD 1552 ± 8 (floor 8.75); λ = 0: 933.0 ± 8.5,
0.878 ± 0.074, 1593 ± 95. Undertrained: the FD is far from its floor.

Cost: about 6 minutes per run on 2 CPU cores.
"""

import configs


def get_config():
  config = configs.paper_dcgan(configs.base('gan'), 'stacked_mnist', 'exp1')
  config.reg_lambda = 5.0
  config.steps = 1200
  config.eval_every = config.checkpoint_every = 300
  return config
