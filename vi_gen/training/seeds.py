"""Many seeds, one program: a bundle of train states trained by ``jax.vmap``.

A *bundle* is N train states of one configuration but different seeds,
stacked leaf by leaf along a new leading axis (:func:`stack`). Their static
structure (networks, optimisers) is shared, so the stage functions of
:mod:`vi_gen.training.stage` and :mod:`vi_gen.training.encoder_stage` run on
all N at once under ``jax.vmap``: one compile and one dispatch per call, and
N-times-larger matrix products.

:func:`train_stages_many` is :func:`vi_gen.training.stage.train_stages` for a
bundle: a
seed whose loss stops being finite is frozen at that stage (``vmap`` carries
a finished seed's state through the remaining iterations unchanged) and its
``bad_step`` says where, while the other seeds train on.
"""

import functools
from typing import Sequence

import jax
import jax.numpy as jnp

from vi_gen import xla
from vi_gen.training import stage as stage_lib


def stack(states: Sequence) -> object:
  """The bundle of ``states`` (one configuration, different seeds)."""
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def unstack(bundle, num_seeds: int) -> list:
  """The ``num_seeds`` states of ``bundle``, in order."""
  return [jax.tree.map(lambda leaf, i=i: leaf[i], bundle) for i in range(num_seeds)]


@functools.partial(xla.jit, static_argnames=('schedule', 'sample_real', 'batch_size',
                                             'stage_fn'))
def train_stages_many(bundle, num_stages: jax.Array, *, schedule, sample_real,
                      batch_size: int, stage_fn=stage_lib.gan_stage):
  """Up to ``num_stages`` stages of every seed of ``bundle``, in one program.

  :func:`vi_gen.training.stage.train_stages` under ``jax.vmap``.

  Known problem (JAX 0.10.2, CPU): with XLA's optimisation passes off
  (``jax_disable_most_optimizations``, as the unit tests run), this program
  computes NaN gradients from its third stage on, whether the stage loop is
  vmapped or the vmapped stage is looped; the same stages vmapped without a
  ``while_loop``, and this program compiled normally, agree with the
  single-seed runs (``tests/test_seeds.py``).

  Args:
    bundle: stacked states (:func:`stack`).
    num_stages: how many stages to run (traced: no re-compilation).
    schedule, sample_real, batch_size, stage_fn: as for
      :func:`vi_gen.training.stage.train_stages`.

  Returns:
    ``(bundle, metrics, bad_step)``, each with a leading seed axis: the
    metrics averaged over each seed's stages, and each seed's first stage
    with a non-finite loss (0 if none). A seed with a non-finite loss keeps
    the state of that stage, as a single-seed run stops with it (under
    ``vmap`` its loop condition turns false and its carry is held), while
    the others run all ``num_stages``.
  """
  train = functools.partial(stage_lib.train_stages.__wrapped__, schedule=schedule,
                            sample_real=sample_real, batch_size=batch_size,
                            stage_fn=stage_fn)
  return jax.vmap(train, in_axes=(0, None))(bundle, num_stages)
