"""A PyTorch reference of vi_gen's DCGAN stage, for ``benchmarks.speed`` only.

PyTorch is never a dependency of ``vi_gen``; install it for the benchmark with
``pip install torch`` (2.13.0 here). The networks follow
``vi_gen/models/dcgan.py`` layer for layer: the same widths, 5×5 stride-2
(transposed) convolutions, BatchNorm (momentum 0.1 = decay 0.9, ε = 1e-5) with
no bias before it, leaky ReLU 0.2, N(0, 0.02) weights and zero biases, and
Adam(2e-4, β = (0.5, 0.999)). PyTorch pads "same" convolutions symmetrically
where TensorFlow/XLA pads one more pixel at the end; the shapes and the
arithmetic are the same.

The step is the algorithm of ``vi_gen.training.stage.gan_stage`` with one D and
one G update: D on a real batch and on G(z₁) (computed without gradient, real
and fake through D separately, as BatchNorm requires), then G on fresh z₂ with
the non-saturating loss plus, for λ > 0, λ·mean((G(z₂) − G°(z₂))²), where G° is
G before this update (the ``previous`` anchor: a parameter copy in PyTorch, a
pytree swap in vi_gen).
"""

import copy

import torch
from torch import nn
import torch.nn.functional as F

_LAYOUT = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


def _init(module: nn.Module) -> None:
  if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
    nn.init.normal_(module.weight, 0.0, 0.02)
    if module.bias is not None:
      nn.init.zeros_(module.bias)


def _bn(channels: int) -> nn.BatchNorm2d:
  return nn.BatchNorm2d(channels, momentum=0.1, eps=1e-5)


class Generator(nn.Module):

  def __init__(self, image_size: int, channels: int, latent_dim: int = 100,
               width: int = 64, batch_norm: bool = True):
    super().__init__()
    start, num_up = _LAYOUT[image_size]
    self.start, self.features = start, width * 2 ** (num_up - 1)
    bias = not batch_norm
    self.dense = nn.Linear(latent_dim, start * start * self.features, bias=bias)
    self.norm0 = _bn(self.features) if batch_norm else nn.Identity()
    layers = []
    features = self.features
    for i in range(num_up - 1):
      out = width * 2 ** (num_up - 2 - i)
      layers += [nn.ConvTranspose2d(features, out, 5, 2, padding=2,
                                    output_padding=1, bias=bias),
                 _bn(out) if batch_norm else nn.Identity(), nn.ReLU()]
      features = out
    layers += [nn.ConvTranspose2d(features, channels, 5, 2, padding=2,
                                  output_padding=1), nn.Tanh()]
    self.body = nn.Sequential(*layers)
    self.apply(_init)

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    x = self.dense(z).view(-1, self.features, self.start, self.start)
    return self.body(F.relu(self.norm0(x)))


class Discriminator(nn.Module):

  def __init__(self, image_size: int, channels: int, width: int = 64,
               batch_norm: bool = True):
    super().__init__()
    _, num_down = _LAYOUT[image_size]
    layers, features = [], channels
    for i in range(num_down):
      out = width * 2 ** i
      normalise = batch_norm and i > 0
      layers += [nn.Conv2d(features, out, 5, 2, padding=2, bias=not normalise),
                 _bn(out) if normalise else nn.Identity(), nn.LeakyReLU(0.2)]
      features = out
    self.body = nn.Sequential(*layers, nn.Flatten())
    side = image_size // 2 ** num_down
    self.logit = nn.Linear(features * side * side, 1)
    self.apply(_init)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.logit(self.body(x))[:, 0]


class Stage:
  """One D update and one G update (eq. 26 with the ``previous`` anchor)."""

  def __init__(self, image_size: int, channels: int, batch_size: int = 64,
               latent_dim: int = 100, reg_lambda: float = 0.0, seed: int = 0):
    torch.manual_seed(seed)
    self.g = Generator(image_size, channels, latent_dim)
    self.d = Discriminator(image_size, channels)
    self.anchor = copy.deepcopy(self.g)
    self.g_opt = torch.optim.Adam(self.g.parameters(), 2e-4, betas=(0.5, 0.999))
    self.d_opt = torch.optim.Adam(self.d.parameters(), 2e-4, betas=(0.5, 0.999))
    self.reg_lambda = reg_lambda
    self.z_shape = (batch_size, latent_dim)
    self.real = torch.rand(batch_size, channels, image_size, image_size) * 2 - 1
    self._g_params = list(self.g.parameters())
    self._anchor_params = list(self.anchor.parameters())

  def step(self) -> None:
    # D: real against G(z₁), no gradient into G.
    with torch.no_grad():
      fake = self.g(torch.randn(self.z_shape))
    real_logits, fake_logits = self.d(self.real), self.d(fake)
    d_loss = (F.binary_cross_entropy_with_logits(real_logits,
                                                 torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits,
                                                   torch.zeros_like(fake_logits)))
    self.d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    self.d_opt.step()

    # G: non-saturating loss on fresh z₂, plus λ‖G(z₂) − G°(z₂)‖² (mean).
    z = torch.randn(self.z_shape)
    self.d.requires_grad_(False)  # G's gradient only, as jax.grad(g_params) does
    fake = self.g(z)
    logits = self.d(fake)
    g_loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    if self.reg_lambda > 0:
      with torch.no_grad():
        torch._foreach_copy_(self._anchor_params, self._g_params)  # G° ← G
        anchor_fake = self.anchor(z)
      g_loss = g_loss + self.reg_lambda * F.mse_loss(fake, anchor_fake)
    self.g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    self.g_opt.step()
    self.d.requires_grad_(True)
