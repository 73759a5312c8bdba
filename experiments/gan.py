r"""A GAN with or without the variational regulariser (eq. 26), on 2D or image data.

    python -m experiments.gan                                   # ring8, λ = 100, ~2 min
    python -m experiments.gan --reg_lambda=0                    # the unregularised control
    python -m experiments.gan --config=configs/gan_grid25.py    # a recipe of configs/
    python -m experiments.gan --config=configs/gan_mnist_exp1.py   # the paper's experiment 1
    python -m experiments.gan --num_seeds=10                    # seeds 0–9 in one program

The recipe comes from ``--config`` (default ``configs/gan_ring8.py``); any field
of :class:`vi_gen.training.config.GANConfig` is set with ``--config.FIELD=v``
or ``--FIELD=v``. Image data comes through TFDS; offline, point
``--manual_dir`` (or $TFDS_MANUAL_DIR) at the original files. Writes
metrics.jsonl, samples_*.png, TensorBoard events and checkpoints to
``--workdir`` (default runs/gan/<dataset>_<schedule or anchor>_lambda<λ>_seed<seed>,
with _cosine[_last<N>] under a decay and ema<decay>_ before the seed under
g_ema); re-running the same command resumes. ``--num_seeds=N`` trains seeds
seed … seed+N−1 as one program, each seed's outputs in WORKDIR/seed<S>/ and
the mean ± standard error of every score in WORKDIR/metrics.jsonl (workdir
ending seeds<A>-<B>; :mod:`vi_gen.training.seeds`). Every local device is used;
several hosts: ``--distributed``.
"""

from experiments import launch
from vi_gen.training import adversarial


def workdir_name(config) -> str:
  schedule = config.preset if config.preset != 'custom' else config.anchor
  return (f'runs/gan/{config.dataset}_{schedule}_lambda{config.reg_lambda:g}_'
          f'{launch.seed_part(config)}')


if __name__ == '__main__':
  launch.main('experiments.gan', 'gan_ring8', adversarial.train_and_evaluate,
              workdir_name, launch.adversarial_final_line)
