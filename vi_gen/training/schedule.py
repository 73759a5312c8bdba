"""The stage schedule and the anchor policies for G° (docs/protocols.md).

A *stage* is ``d_steps`` discriminator updates followed by ``g_steps`` generator
minibatches, each used for ``g_repeats`` consecutive generator updates on the same z.
G° ("the generator of the previous stage", eq. 19) is chosen by an anchor policy:

* ``previous``: G° is the generator before the previous G update, a one-step lag.
  After every G update the pre-update parameters become the anchor.
* ``stage``: G° is the generator at the start of the stage's G phase (G does not
  change during the D phase, so this is also the start of the stage).

With ``stage`` and ``g_steps × g_repeats == 1``, the only G update is taken at
G = G°, where the gradient of ``‖G(z) − G°(z)‖²`` is exactly zero: the term is inert.
"""

import dataclasses
from typing import Optional

ANCHOR_POLICIES = ('previous', 'stage')


@dataclasses.dataclass(frozen=True)
class Schedule:
  """How many updates a stage makes, and how G° is chosen.

  Attributes:
    reg_lambda: λ of eq. 26, on the element-wise mean squared difference.
    anchor: ``'previous'`` or ``'stage'``.
    d_steps: D updates per stage.
    g_steps: G minibatches (fresh z) per stage.
    g_repeats: G updates on each minibatch's z.
  """
  reg_lambda: float = 0.0
  anchor: str = 'previous'
  d_steps: int = 1
  g_steps: int = 1
  g_repeats: int = 1

  def __post_init__(self):
    if self.anchor not in ANCHOR_POLICIES:
      raise ValueError(f'unknown anchor policy {self.anchor!r}; choose one of '
                       f'{", ".join(ANCHOR_POLICIES)}')
    if not self.reg_lambda >= 0:  # Also rejects NaN.
      raise ValueError(f'reg_lambda must be >= 0, got {self.reg_lambda}')
    for name in ('d_steps', 'g_steps', 'g_repeats'):
      if getattr(self, name) < 1:
        raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}')

  @property
  def g_updates(self) -> int:
    """Generator updates per stage."""
    return self.g_steps * self.g_repeats

  def known_anchor_output(self, step: int, repeat: int) -> Optional[str]:
    """Whether G°(z) is already known at a G update, so needs no forward pass.

    Args:
      step: the update's G minibatch in the stage, ``0 <= step < g_steps``.
      repeat: its repeat on that minibatch's z, ``0 <= repeat < g_repeats``.

    Returns:
      ``'current'`` where G° is the G being updated (``stage``, the stage's
      first G update), so G°(z) = G(z); ``'previous'`` where G° is the G the
      previous update started from and that update was on the same z (a
      repeat under ``previous``; the second update of the stage under
      ``stage``), so G°(z) is that update's G(z); None otherwise. G(z) is a
      deterministic function of G's parameters and z: BatchNorm in training
      mode normalises with the batch's statistics, not the running ones.
    """
    if self.anchor == 'stage' and step == 0 and repeat <= 1:
      return 'current' if repeat == 0 else 'previous'
    if self.anchor == 'previous' and repeat >= 1:
      return 'previous'
    return None

  def inert_reason(self) -> Optional[str]:
    """Why λ‖G(z) − G°(z)‖² can have no effect in this schedule, or None."""
    if self.reg_lambda > 0 and self.anchor == 'stage' and self.g_updates == 1:
      return ('the regulariser is inert: with --anchor=stage and '
              'g_steps x g_repeats == 1, the only G update of each stage is taken '
              'at G = G°, where the gradient of ||G(z) - G°(z)||^2 is zero. '
              'Use --g_repeats=2 (the paper\'s schedule) or --anchor=previous.')
    return None
