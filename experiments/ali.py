r"""ALI / BiGAN (eqs. 35–43) with the paper's E/G loss or a standard one.

    python -m experiments.ali                                   # ring8, eq. 41 (the paper's)
    python -m experiments.ali --ali_loss=nonsaturating          # eq. 43; minimax: eq. 42
    python -m experiments.ali --dataset=grid25 --gaussian_encoder --gaussian_generator
    python -m experiments.ali --dataset=grid25 --ali_loss=nonsaturating --ali_networks=pacgan \
        --lr_decay=cosine --g_lr=3e-4 --d_lr=3e-4 --steps=40000   # PacGAN's ALI networks
    python -m experiments.ali --dataset=grid25 --ali_loss=nonsaturating --ali_networks=pacgan \
        --ali_simultaneous --g_lr=1e-4 --d_lr=1e-4 --beta1=0.8 --steps=400000  # PacGAN's recipe
    TFDS_MANUAL_DIR=../shared/data/tfds/downloads/manual python -m experiments.ali --dataset=mnist

An encoder E(x) and a generator G(z) are trained together against a joint
discriminator D(x, z) = p(encoder pair | x, z) (eq. 38). The E/G loss is
``--ali_loss``: ``vi`` (eq. 41, the paper's: −log D on both pairs), ``minimax``
(eq. 42) or ``nonsaturating`` (eq. 43). ``--gaussian_encoder`` and
``--gaussian_generator`` add learned per-dimension Gaussian noise,
reparameterised. ``--reg_lambda=λ`` keeps eq. 40's term
E_z KL(q(x|z) ‖ q°(x|z)), which eq. 41 drops, as λ‖G(z) − G°(z)‖² against G
before the previous update (eq. 26's form; default 0). ``--ali_simultaneous``
takes the D and E/G steps together from one pass, as ALI's reference code
does. ``--ali_networks=pacgan`` (2D) swaps our encoder and joint D
for those of PacGAN's 2D ALI runs, behind the published ALI rows: E(x, ε) with
input noise and two hidden layers, and a D on the raw [x, z]. ``--ali_r1=γ``
adds Mescheder et al.'s R1 penalty γ/2 ‖∇_{x,z} D‖² at the encoder pairs to
D's loss, a stabiliser from outside the paper (default 0).

Every flag of ``experiments.gan`` applies with the same meaning and defaults
(G, data, budget; of the schedule flags only --d_steps and --batch_norm), and so
do its workdir layout, progress, metrics, checkpoints and resume. Metrics: the
GAN's (2D: modes, hq, reverse_kl; MNIST: fd), and E's: reconstruction (mean
squared error of G(E(x))), recon_same_mode (2D: G(E(x)) within 3σ of x's mode,
%) or recon_accuracy (MNIST: G(E(x)) classified as x's label, %), and code_mmd
(codes against N(0, I)). Workdir default: runs/ali/<dataset>_<loss>_seed<seed>.
``python -m benchmarks.ali_losses`` compares the three losses over seeds.
"""

from absl import app
from absl import flags

from experiments import gan
from vi_gen.losses import ali as ali_losses
from vi_gen.training import gan_loop

_ALI_LOSS = flags.DEFINE_enum(
    'ali_loss', 'vi', list(ali_losses.GENERATOR_LOSSES),
    'E/G loss: vi (eq. 41, the paper\'s), minimax (eq. 42), nonsaturating (eq. 43).')
_GAUSSIAN_ENCODER = flags.DEFINE_boolean(
    'gaussian_encoder', False, 'E(x) + σ ⊙ ε with a learned σ, reparameterised.')
_GAUSSIAN_GENERATOR = flags.DEFINE_boolean(
    'gaussian_generator', False, 'G(z) + σ ⊙ ε with a learned σ, reparameterised.')
_SIMULTANEOUS = flags.DEFINE_boolean(
    'ali_simultaneous', False,
    'D and E/G step together from one pass on one draw (ALI\'s and PacGAN\'s '
    'code); needs --d_steps=1. Default: D first, then E/G on fresh draws.')
_ALI_NETWORKS = flags.DEFINE_enum(
    'ali_networks', 'embedded', list(gan_loop.ALI_NETWORKS),
    '2D encoder and joint D: embedded (E: the generator\'s MLP; D embeds x and z, '
    'then joins them) or pacgan (PacGAN\'s 2D ALI: E(x, ε) with two hidden '
    'layers, D on the raw [x, z]).')
_R1 = flags.DEFINE_float(
    'ali_r1', 0.0,
    'γ of an R1 penalty, γ/2 ‖∇_{x,z} D‖² at the encoder pairs, added to D\'s '
    'loss (eq. 38); a stabiliser from outside the paper. 0: eq. 38 alone.')


def main(argv):
  gan.run(argv, 'experiments.ali', 'ali', ali_loss=_ALI_LOSS.value,
          gaussian_encoder=_GAUSSIAN_ENCODER.value,
          gaussian_generator=_GAUSSIAN_GENERATOR.value,
          ali_networks=_ALI_NETWORKS.value,
          ali_simultaneous=_SIMULTANEOUS.value, ali_r1=_R1.value)


if __name__ == '__main__':
  app.run(main)
