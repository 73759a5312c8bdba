"""``jax.jit`` with the XLA options vi_gen compiles its functions with.

On CPU, XLA (jaxlib 0.10) hands dots, convolutions, reductions and the
element-wise work around them to YNNPACK by default. Every function vi_gen jits
compiles on CPU with YNNPACK for reductions only: XLA's own dots and
convolutions were faster here, and XLA's own reductions are less accurate.

Measured on the 2-core machine this suite is benchmarked on (stop 26, nothing
else running; default / no YNNPACK fusions / YNNPACK reductions only):

- 28×28 DCGAN stage, batch 64, λ 0 and 5: 94 and 101 ms / 73 and 77 / 70 and 80;
- the default 2D ring8 GAN, stages/s per call and fused: 82 and 93 / 119 and 135 /
  81 and 91;
- VAE steps/s, the MLP and the conv pair: 368 and 33 / 462 and 52 / 373 and 46.

Accuracy: XLA's own reduction sums a long axis less accurately than YNNPACK's
(measured, not traced to its code). Against float64, the first D and G
gradients of a small DCGAN (batch 16, 28×28) had relative errors of 2–3e-6 in
the convolution biases (sums over 16·14·14 terms) with it, against 0.8–1.3e-7
with YNNPACK's; the kernels' were the same.
Through two stages of Adam, which moves a weight by about lr · sign(g) where g is
small, that difference made one-device results miss eight-device ones (short
per-device sums) by up to 234× the tolerance of ``tests/test_data_parallel.py``,
while the eight-device results agreed with YNNPACK's to 0.003× of it. With
YNNPACK for reductions only every case there holds, and so does the 28×28 stage's
speed; the 2D and MLP models lose the gain they would get with no YNNPACK at all.

An ``XLA_FLAGS`` setting of ``--xla_cpu_experimental_ynn_fusion_type`` takes
precedence (it is left alone), and an XLA that does not know the option
compiles as it would without it. Other backends get no options.
"""

import functools
import os
from typing import Any, Callable

import jax

_YNN_FUSION_TYPE = 'xla_cpu_experimental_ynn_fusion_type'


@functools.cache
def compiler_options() -> dict[str, Any]:
  """The ``compiler_options`` for ``jax.jit`` on the default backend.

  Decided once, at the first compilation (so after ``jax.distributed.initialize``,
  which must come before the backend starts).
  """
  if (jax.default_backend() != 'cpu'
      or _YNN_FUSION_TYPE in os.environ.get('XLA_FLAGS', '')):
    return {}
  options = {_YNN_FUSION_TYPE: 'LIBRARY_FUSION_TYPE_REDUCE'}
  try:
    jax.jit(lambda x: x + 1, compiler_options=options).lower(1.0).compile()
  except Exception:  # pylint: disable=broad-except
    # An XLA without the option rejects it; compile as it would by default.
    return {}
  return options


class _Jitted:
  """``jax.jit(fun, **kwargs)`` built at first use, with :func:`compiler_options`.

  Calls and every attribute of the jitted function (``lower``, ``trace``,
  ``eval_shape``, ``clear_cache``, …) go to it.
  """

  def __init__(self, fun: Callable, kwargs: dict[str, Any]):
    self._fun, self._kwargs = fun, kwargs
    functools.update_wrapper(self, fun)

  @functools.cached_property
  def _jitted(self):
    options = compiler_options()
    return jax.jit(self._fun, **self._kwargs,
                   **({'compiler_options': options} if options else {}))

  def __call__(self, *args, **kwargs):
    return self._jitted(*args, **kwargs)

  def __getattr__(self, name: str):
    if name.startswith('__') or name in ('_fun', '_kwargs', '_jitted'):
      raise AttributeError(name)
    return getattr(self._jitted, name)


def jit(fun: Callable | None = None, **kwargs):
  """``jax.jit`` with :func:`compiler_options`: ``@jit``, ``jit(f, ...)`` or
  ``functools.partial(jit, static_argnames=...)``."""
  if fun is None:
    return functools.partial(jit, **kwargs)
  return _Jitted(fun, kwargs)
