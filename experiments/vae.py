r"""A VAE (eq. 7) on dynamically binarised MNIST, evaluated by importance sampling.

    python -m experiments.vae --manual_dir=PATH/TO/MNIST/FILES   # or $TFDS_MANUAL_DIR
    python -m experiments.vae --architecture=conv --steps=5000 --nll_samples=500
    python -m experiments.vae --config=configs/vae_nll.py        # the NLL benchmark's budget

Default recipe ``configs/vae_mnist.py``: the one-stochastic-layer anchor of
Burda et al. (2015), 784-200-200-50 with tanh units and a Bernoulli decoder;
Adam 1e-3, batch 100, 30,000 steps (50 epochs); test NLL at the end with
k = 5,000 importance samples. ``--epochs=E`` sets steps to E passes over the
60,000 training images. Writes metrics.jsonl, reconstructions_*.png,
samples_*.png, TensorBoard events and checkpoints to ``--workdir`` (default
runs/vae/<architecture>_z<latent>_seed<seed>); re-running resumes.
"""

import dataclasses

from absl import flags

from experiments import launch
from vi_gen.training import vae
from vi_gen.training.config import ConfigError

TRAIN_EXAMPLES = 60_000
_EPOCHS = flags.DEFINE_integer(
    'epochs', None, 'If set: steps = epochs × 60,000 / batch_size.')


def with_epochs(config):
  if _EPOCHS.value is None:
    return config
  if _EPOCHS.value < 1:
    raise ConfigError(f'epochs must be >= 1, got {_EPOCHS.value}')
  return dataclasses.replace(
      config, steps=max(1, _EPOCHS.value * TRAIN_EXAMPLES // config.batch_size))


def workdir_name(config) -> str:
  return f'runs/vae/{config.architecture}_z{config.latent_dim}_seed{config.seed}'


def final_line(record: dict) -> str:
  return launch.final_scores(record, ('elbo', 'test_elbo', 'nll'), (), 'step')


if __name__ == '__main__':
  launch.main('experiments.vae', 'vae_mnist', vae.train_and_evaluate,
              workdir_name, final_line, adjust=with_epochs)
