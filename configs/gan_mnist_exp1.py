r"""The paper's experiment 1 on MNIST: DCGAN, BatchNorm, one D update, two G updates, λ = 5.

    python -m experiments.gan --config=configs/gan_mnist_exp1.py --manual_dir=DIR
    python -m experiments.gan --config=configs/gan_mnist_exp1.py --reg_lambda=0   # control

The paper's code: the DCGAN at 28×28 of base width 64, z ∈ R¹⁰⁰, batch 64,
Adam(2e-4, β₁ = 0.5), λ = 5 on the element-wise mean; per stage one D update,
a snapshot G° = G, then two G updates on the same z. 2,000 stages, the
Fréchet distance of 10,000 samples in the fixed classifier's features every
500 (next to its floor, real train against real test). ``DIR`` holds MNIST's
four original files (TFDS's manual_dir), for offline machines.

Result (``benchmarks/results/recipes.md``, seed 0): FD 131.6 against a floor
of 2.1 (335.7 at stage 500, 144.2 at 1,000): far from trained.

Cost: about 10 minutes on 2 CPU cores (616 s with its four evaluations).
"""

import configs


def get_config():
  config = configs.paper_dcgan(configs.base('gan'), 'mnist', 'exp1')
  config.reg_lambda = 5.0
  return config
