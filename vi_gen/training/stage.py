"""The GAN stage: ``d_steps`` D updates, then ``g_steps × g_repeats`` G updates.

:func:`gan_stage` is a pure function ``(state, real) -> (state, metrics)`` for data
that arrives from an input pipeline. :func:`train_stages` fuses many stages into one
``lax.while_loop`` for data sampled on device (the 2D mixtures), so small models run
at compute speed instead of at Python dispatch speed.

Under ``jax.set_mesh`` (see :mod:`vi_gen.parallel`) the batch axis of the data
and of every latent draw is split over the mesh; without a mesh the same code
runs on one device.

Randomness: stage ``s`` derives every key from ``fold_in(state.rng, s)``, so a run
resumed from a checkpoint draws exactly what an uninterrupted run draws.
"""

import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import optax

from vi_gen import parallel
from vi_gen import xla
from vi_gen.losses import gan as gan_losses
from vi_gen.training.schedule import Schedule
from vi_gen.training.state import (GANState, anchor_output, apply_model,
                                   mean_metrics, stage_keys, update_average)

# Sampler of real data: (key, leading shape) -> array [*leading shape, *data shape].
RealSampler = Callable[[jax.Array, tuple], jax.Array]

_LOSS_KEYS = ('d_loss', 'g_loss')

# A stage: (state, real [d_steps, batch, ...], schedule) -> (state, metrics).
# Every stage's metrics include _LOSS_KEYS; every schedule has `d_steps`.
StageFn = Callable[..., tuple]


def _discriminator_update(state: GANState, real: jax.Array, key: jax.Array):
  """One D update on a real batch against a fresh generated batch (eq. 16)."""
  z = parallel.constrain_batch(
      jax.random.normal(key, (real.shape[0], *state.latent_shape)))
  fake, _ = apply_model(state.generator, state.g_params, state.g_batch_stats, z,
                        train=True)
  fake = jax.lax.stop_gradient(fake)

  def loss_fn(d_params):
    real_logits, stats = apply_model(state.discriminator, d_params,
                                     state.d_batch_stats, real, train=True)
    fake_logits, stats = apply_model(state.discriminator, d_params, stats, fake,
                                     train=True)
    loss = gan_losses.discriminator_loss(real_logits, fake_logits).mean()
    return loss, (stats, real_logits, fake_logits)

  (loss, (stats, real_logits, fake_logits)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.d_params)
  updates, opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
  state = state.replace(
      d_params=optax.apply_updates(state.d_params, updates),
      d_batch_stats=stats,
      d_opt_state=opt_state)
  metrics = {
      'd_loss': loss,
      'd_real': jnp.mean(jax.nn.sigmoid(real_logits)),
      'd_fake': jnp.mean(jax.nn.sigmoid(fake_logits)),
      'd_grad_norm': optax.tree.norm(grads),
      'd_update_norm': optax.tree.norm(updates),
  }
  return state, metrics


def _generator_update(state: GANState, z: jax.Array, schedule: Schedule,
                      anchor_fake: Optional[jax.Array] = None,
                      anchor_is_current: bool = False):
  """One G update on eq. 26 against the current anchor G°.

  G°(z) costs one forward pass with the anchor's parameters, unless the caller
  knows it (:meth:`Schedule.known_anchor_output`): ``anchor_fake``, the previous
  update's G(z) on the same z, or ``anchor_is_current``, G° = G, where it is
  G(z) itself (the term and its gradient are then zero).

  Returns:
    ``(state, metrics, fake)``, ``fake`` the G(z) this update started from.
  """
  reg = schedule.reg_lambda > 0
  if reg and anchor_fake is None and not anchor_is_current:
    anchor_fake = anchor_output(state.generator, state.g_anchor_params,
                                state.g_batch_stats, z)

  def loss_fn(g_params):
    fake, stats = apply_model(state.generator, g_params, state.g_batch_stats, z,
                              train=True)
    logits, _ = apply_model(state.discriminator, state.d_params,
                            state.d_batch_stats, fake, train=True)
    anchor = None
    if reg:
      anchor = jax.lax.stop_gradient(fake) if anchor_is_current else anchor_fake
    total = gan_losses.variational_generator_loss(
        logits, fake, anchor, schedule.reg_lambda).mean()
    aux = {'g_loss': gan_losses.generator_loss(logits).mean()}
    if reg:
      aux['g_drift'] = gan_losses.generator_drift(fake, anchor).mean()
    return total, (stats, aux, fake)

  (total, (stats, aux, fake)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.g_params)
  updates, opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
  new_params = optax.apply_updates(state.g_params, updates)
  # `previous`: the parameters this update started from become G° (a pytree swap).
  anchor = (state.g_params if schedule.anchor == 'previous'
            else state.g_anchor_params)
  state = state.replace(g_params=new_params, g_anchor_params=anchor,
                        g_batch_stats=stats, g_opt_state=opt_state)
  metrics = dict(aux, g_total=total, g_grad_norm=optax.tree.norm(grads),
                 g_update_norm=optax.tree.norm(updates))
  return state, metrics, jax.lax.stop_gradient(fake)


def gan_stage(state: GANState, real: jax.Array, schedule: Schedule):
  """Runs one stage and returns ``(state, metrics)``.

  Args:
    state: the current :class:`GANState`.
    real: ``[schedule.d_steps, batch, *data_shape]``, one real batch per D update.
    schedule: the stage :class:`Schedule` (static under ``jit``).

  Returns:
    The new state (``step`` advanced by one) and a dict of scalar metrics, each
    averaged over the stage's D or G updates.
  """
  keys = stage_keys(state)
  batch = real.shape[1]

  # Python loops, not lax.scan: the counts are small and static, and XLA on CPU
  # runs convolutions inside a while loop several times slower than outside one.
  d_keys = jax.random.split(keys['d'], schedule.d_steps)
  d_metrics = []
  for i in range(schedule.d_steps):
    state, m = _discriminator_update(state, real[i], d_keys[i])
    d_metrics.append(m)

  if schedule.anchor == 'stage':
    state = state.replace(g_anchor_params=state.g_params)

  g_keys = jax.random.split(keys['g'], schedule.g_steps)
  g_metrics = []
  for step, key in enumerate(g_keys):
    z = parallel.constrain_batch(
        jax.random.normal(key, (batch, *state.latent_shape)))
    fake = None
    for repeat in range(schedule.g_repeats):
      # Where G°(z) is already known, the update skips its forward pass.
      known = schedule.known_anchor_output(step, repeat)
      state, m, fake = _generator_update(
          state, z, schedule, anchor_fake=fake if known == 'previous' else None,
          anchor_is_current=known == 'current')
      g_metrics.append(m)

  metrics = {**mean_metrics(d_metrics), **mean_metrics(g_metrics)}
  return state.replace(step=state.step + 1), metrics


def first_bad_step(bad_step: jax.Array, state, metrics: dict) -> jax.Array:
  """The run's one NaN check: ``bad_step``, or this stage's number if it is the
  first whose D or G loss is not finite (stage numbers are 1-based; 0: none)."""
  finite = jnp.all(jnp.stack([jnp.isfinite(metrics[k]) for k in _LOSS_KEYS]))
  return jnp.where((bad_step == 0) & ~finite, state.step, bad_step)


@functools.cache
def averaging(stage_fn: StageFn, decay: float) -> StageFn:
  """``stage_fn``, then G's moving average moved towards the new G.

  One object per ``(stage_fn, decay)``, so that it can be a static argument
  of the jitted loops below without re-compiling them.
  """
  def stage(state, real, schedule):
    state, metrics = stage_fn(state, real, schedule)
    return update_average(state, decay), metrics
  stage.__name__ = f'{stage_fn.__name__}_averaging'
  return stage


@functools.partial(xla.jit, static_argnames=('schedule', 'sample_real', 'batch_size',
                                             'stage_fn'),
                   donate_argnums=0)
def train_stages(state: GANState, num_stages: jax.Array, *, schedule: Schedule,
                 sample_real: RealSampler, batch_size: int,
                 stage_fn: StageFn = gan_stage):
  """Runs up to ``num_stages`` stages in one compiled loop, sampling data on device.

  The loop stops early at the first stage whose D or G loss is not finite.

  Args:
    state: the current :class:`GANState` (donated).
    num_stages: how many stages to run (a traced integer: no re-compilation).
    schedule: the stage :class:`Schedule` (or ``stage_fn``'s schedule).
    sample_real: ``(key, leading_shape) -> real data``, traceable.
    batch_size: examples per update.
    stage_fn: the stage; :func:`gan_stage`, or an AAE/ALI stage
      (:mod:`vi_gen.training.encoder_stage`).

  Returns:
    ``(state, metrics, bad_step)``: metrics averaged over the stages run, and the
    1-based number of the first stage with a non-finite loss (0 if none).
  """
  def run_one(state):
    real = sample_real(stage_keys(state)['data'], (schedule.d_steps, batch_size))
    return stage_fn(state, parallel.constrain_batch(real, batch_axis=1), schedule)

  metrics_shape = jax.eval_shape(run_one, state)[1]
  zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metrics_shape)

  def cond(carry):
    i, _, _, bad_step = carry
    return (i < num_stages) & (bad_step == 0)

  def body(carry):
    i, state, sums, bad_step = carry
    state, metrics = run_one(state)
    bad_step = first_bad_step(jnp.zeros((), jnp.int32), state, metrics)
    sums = jax.tree.map(jnp.add, sums, metrics)
    return i + 1, state, sums, bad_step

  count, state, sums, bad_step = jax.lax.while_loop(
      cond, body, (jnp.zeros((), jnp.int32), state, zeros, jnp.zeros((), jnp.int32)))
  metrics = jax.tree.map(lambda s: s / jnp.maximum(count, 1), sums)
  return state, metrics, bad_step


# Running totals of a pipeline-fed run: (metric sums, stage count, first bad stage).
Totals = tuple[dict[str, jax.Array], jax.Array, jax.Array]


@functools.partial(xla.jit, static_argnames=('real_shape', 'schedule', 'stage_fn'))
def zero_totals(state: GANState, real_shape: tuple, schedule: Schedule,
                stage_fn: StageFn = gan_stage) -> Totals:
  """Totals before the first stage, for :func:`train_stage_on_batch`.

  Jitted, so that the zeros are made on the device rather than sent there.
  """
  real = jax.ShapeDtypeStruct(real_shape, jnp.float32)
  shapes = jax.eval_shape(functools.partial(stage_fn, schedule=schedule),
                          state, real)[1]
  return (jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes),
          jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


@functools.partial(xla.jit, static_argnames=('schedule', 'stage_fn'),
                   donate_argnums=(0, 2))
def train_stage_on_batch(state: GANState, real: jax.Array, totals: Totals, *,
                         schedule: Schedule,
                         stage_fn: StageFn = gan_stage) -> tuple[GANState, Totals]:
  """One stage on a batch from an input pipeline, accumulating metrics on device.

  Nothing is read back to the host, so the next batch is prepared while this
  stage runs. ``totals`` records the first stage with a non-finite loss (0 if
  none); the caller checks it at evaluation and checkpoint boundaries.

  Args:
    state: the current :class:`GANState` (donated).
    real: ``[schedule.d_steps, batch, *data_shape]``.
    totals: from :func:`zero_totals` or the previous call (donated).
    schedule: the stage :class:`Schedule` (or ``stage_fn``'s schedule).
    stage_fn: the stage function, as for :func:`train_stages`.
  """
  state, metrics = stage_fn(state, real, schedule)
  sums, count, bad_step = totals
  bad_step = first_bad_step(bad_step, state, metrics)
  return state, (jax.tree.map(jnp.add, sums, metrics), count + 1, bad_step)
