r"""The adversarial autoencoder (eqs. 30–34): a deterministic encoder matched to N(0, I).

    python -m experiments.aae                                   # ring8
    python -m experiments.aae --dataset=grid25 --recon_lambda=1
    TFDS_MANUAL_DIR=../shared/data/tfds/downloads/manual python -m experiments.aae --dataset=mnist --latent_dim=8

An encoder E(x) and a decoder G(z) are trained together on
``−log D(E(x)) + λ ‖x − G(E(x))‖²`` (eq. 34; λ = ``--recon_lambda`` on the
element-wise mean squared error) against a latent discriminator
D(z) = q(0|z), the probability that z came from the prior (eq. 30).
``--reg_lambda=λ`` keeps eq. 32's term KL(p(z) ‖ p°(z)), which eq. 33 drops, as
λ‖E(x) − E°(x)‖² against E before the previous update (eq. 26's form, for the
encoder; default 0).

Every flag of ``experiments.gan`` applies with the same meaning and defaults
(the decoder is the GAN's G; of the schedule flags only --d_steps and
--batch_norm), and so do its workdir layout, progress, metrics, checkpoints and
resume. Metrics: reconstruction (mean squared error of G(E(x))), code_mmd (MMD²
of codes against N(0, I), inverse multiquadric kernel), code_mean_norm and
code_cov_distance, and samples G(z), z ~ N(0, I), scored as the GAN's are (2D
modes/hq/reverse_kl; MNIST fd), plus recon_same_mode (2D) or recon_accuracy
(MNIST). Workdir default: runs/aae/<dataset>_lambda<λ>[_reg<λ>]_seed<seed>.
"""

from absl import app
from absl import flags

from experiments import gan
from vi_gen.training import gan_loop

_RECON_LAMBDA = flags.DEFINE_float(
    'recon_lambda', gan_loop.GANConfig.recon_lambda,
    'λ of eq. 34 on the element-wise mean of (x − G(E(x)))².')


def main(argv):
  gan.run(argv, 'experiments.aae', 'aae', recon_lambda=_RECON_LAMBDA.value)


if __name__ == '__main__':
  app.run(main)
