r"""ALI / BiGAN (eqs. 35–43) with the paper's E/G loss or a standard one.

    python -m experiments.ali                                   # ring8, eq. 41 (the paper's)
    python -m experiments.ali --ali_loss=nonsaturating          # eq. 43; minimax: eq. 42
    python -m experiments.ali --config=configs/ali_ring8_long.py   # beats the published ring8 row
    python -m experiments.ali --config=configs/ali_grid25_r1.py    # beats the published grid25 row

An encoder E(x) and a generator G(z) are trained together against a joint
discriminator D(x, z) = p(encoder pair | x, z) (eq. 38). ``ali_loss``: ``vi``
(eq. 41), ``minimax`` (eq. 42) or ``nonsaturating`` (eq. 43); ``reg_lambda``
keeps eq. 40's term E_z KL(q(x|z) ‖ q°(x|z)) as λ‖G(z) − G°(z)‖²; the other
ALI fields of :class:`vi_gen.training.config.GANConfig` pick the networks and
updates. Metrics: the GAN's, and E's reconstruction, recon_same_mode (2D) or
recon_accuracy (MNIST) and code_mmd. Everything else (recipes, --num_seeds, workdir,
progress, resume) is as in ``experiments.gan``. Workdir default:
runs/ali/<dataset>_<loss>[_pacgan][_lambda<λ>][_simultaneous][_r1gamma<γ>]_<seed>.
"""

from experiments import launch
from vi_gen.training import adversarial


def workdir_name(config) -> str:
  networks = '' if config.ali_networks == 'embedded' else f'_{config.ali_networks}'
  reg = f'_lambda{config.reg_lambda:g}' if config.reg_lambda else ''
  updates = '_simultaneous' if config.ali_simultaneous else ''
  r1 = f'_r1gamma{config.ali_r1:g}' if config.ali_r1 else ''
  return (f'runs/ali/{config.dataset}_{config.ali_loss}{networks}{reg}'
          f'{updates}{r1}_{launch.seed_part(config)}')


if __name__ == '__main__':
  launch.main('experiments.ali', 'ali_ring8', adversarial.train_and_evaluate,
              workdir_name, launch.adversarial_final_line)
