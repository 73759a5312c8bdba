r"""The one-stochastic-layer VAE on binarised MNIST (``python -m experiments.vae``).

    python -m experiments.vae --manual_dir=DIR                  # this recipe

Burda et al.'s anchor: 784-200-200-50 with tanh units, a Bernoulli decoder on
MNIST binarised anew at every step, Adam(1e-3), batch 100, 30,000 steps (50
epochs), test NLL from k = 5,000 importance samples at the end. ``DIR`` holds
MNIST's four original files (TFDS's manual_dir), for offline machines.

Result: a shorter budget than the NLL benchmark's; see ``configs/vae_nll.py``
for the recipe behind the reported NLL.

Cost: about 4 minutes of training on 2 CPU cores and about 13 minutes for the
final k = 5,000 NLL on 10,000 test images.
"""

import configs


def get_config():
  return configs.base('vae')
