r"""The adversarial autoencoder (eqs. 30–34): a deterministic encoder matched to N(0, I).

    python -m experiments.aae                                   # ring8
    python -m experiments.aae --dataset=grid25 --recon_lambda=1

An encoder E(x) and a decoder G(z) are trained together on
``−log D(E(x)) + λ ‖x − G(E(x))‖²`` (eq. 34; λ = ``recon_lambda``) against a
latent discriminator D(z) = q(0|z), the probability that z came from the prior
(eq. 30). ``reg_lambda`` keeps eq. 32's term KL(p(z) ‖ p°(z)), which eq. 33
drops, as λ‖E(x) − E°(x)‖². Metrics: reconstruction, code_mmd, code_mean_norm,
code_cov_distance, and samples G(z) scored as the GAN's, plus recon_same_mode
(2D) or recon_accuracy (MNIST). Everything else (--num_seeds included) is as in ``experiments.gan``.
Workdir default: runs/aae/<dataset>_lambda<λ>[_reg<λ>]_<seed>.
"""

from experiments import launch
from vi_gen.training import adversarial


def workdir_name(config) -> str:
  reg = f'_reg{config.reg_lambda:g}' if config.reg_lambda else ''
  return (f'runs/aae/{config.dataset}_lambda{config.recon_lambda:g}{reg}_'
          f'{launch.seed_part(config)}')


if __name__ == '__main__':
  launch.main('experiments.aae', 'aae_ring8', adversarial.train_and_evaluate,
              workdir_name, launch.adversarial_final_line)
