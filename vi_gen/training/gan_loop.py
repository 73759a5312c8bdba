"""Train and evaluate a GAN on a 2D mixture: the loop behind ``experiments.gan``.

``train_and_evaluate(config, workdir)`` writes to ``workdir``:

* ``config.json``: the configuration (checked on resume);
* ``metrics.jsonl``: one JSON object per evaluation with ``step``, ``modes``,
  ``hq`` (percent), ``reverse_kl``, the training losses averaged since the
  previous evaluation, and throughput;
* ``samples_STEP.png``: 2,500 samples over the true modes at each evaluation;
* ``checkpoints/``: Orbax checkpoints; re-running on the same workdir resumes.
"""

import dataclasses
import functools
import json
import os
import time
from typing import Optional

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vi_gen import checkpoint
from vi_gen import plotting
from vi_gen.data import toy2d
from vi_gen.metrics.modes2d import mode_metrics
from vi_gen.models.mlp2d import MaxoutDiscriminator, MLPGenerator
from vi_gen.training.schedule import Schedule
from vi_gen.training.stage import train_stages
from vi_gen.training.state import GANState


class ConfigError(ValueError):
  """A configuration that cannot run; raised before any computation."""


class NonFiniteLossError(FloatingPointError):
  """Training produced a NaN or infinite loss."""


@dataclasses.dataclass(frozen=True)
class GANConfig:
  """A 2D GAN experiment. Defaults: PacGAN's networks, a one-minute CPU budget.

  PacGAN (Lin et al., 2018) trains with Adam(1e-4, β₁ = 0.8) for 400 epochs of
  1,000 batches of 100; the defaults here train 4,000 stages at a higher learning
  rate so that a first run finishes in about a minute on two CPU cores.

  λ: the paper's λ = 5 is for 64×64 images. In 2D one G update moves G(z) by
  roughly 1e-3, so λ‖G(z) − G°(z)‖² is negligible beside −log D(G(z)) unless λ is
  near 100; ``python -m benchmarks.collapse`` measures λ = 100 against λ = 0.
  """
  dataset: str = 'ring8'
  reg_lambda: float = 100.0
  anchor: str = 'previous'
  d_steps: int = 1
  g_steps: int = 1
  g_repeats: int = 1
  batch_size: int = 100
  g_lr: float = 1e-3
  d_lr: float = 1e-3
  beta1: float = 0.5
  beta2: float = 0.999
  latent_dim: int = 2
  g_hidden: int = 400
  g_depth: int = 4
  g_batch_norm: bool = True
  d_hidden: int = 200
  d_depth: int = 3
  d_pieces: int = 5
  steps: int = 4000
  seed: int = 0
  eval_every: int = 500
  eval_samples: int = 2500
  checkpoint_every: int = 1000

  @property
  def schedule(self) -> Schedule:
    return Schedule(reg_lambda=self.reg_lambda, anchor=self.anchor,
                    d_steps=self.d_steps, g_steps=self.g_steps,
                    g_repeats=self.g_repeats)


# Fields that may change when a run is resumed: they do not change what is trained.
RESUMABLE_FIELDS = ('steps', 'eval_every', 'checkpoint_every')


def validate(config: GANConfig, workdir: str) -> None:
  """Raises :class:`ConfigError` with a one-line reason if ``config`` cannot run."""
  if config.dataset not in toy2d.DATASETS:
    raise ConfigError(f'unknown dataset {config.dataset!r}; choose one of '
                      f'{", ".join(sorted(toy2d.DATASETS))}')
  try:
    config.schedule  # pylint: disable=pointless-statement
  except ValueError as e:
    raise ConfigError(str(e)) from None
  for name in ('steps', 'batch_size', 'eval_every', 'checkpoint_every',
               'eval_samples', 'latent_dim', 'g_hidden', 'g_depth', 'd_hidden',
               'd_depth', 'd_pieces'):
    if getattr(config, name) < 1:
      raise ConfigError(f'{name} must be >= 1, got {getattr(config, name)}')
  for name in ('g_lr', 'd_lr'):
    if not getattr(config, name) > 0:
      raise ConfigError(f'{name} must be > 0, got {getattr(config, name)}')
  for name in ('beta1', 'beta2'):
    if not 0 <= getattr(config, name) < 1:
      raise ConfigError(f'{name} must be in [0, 1), got {getattr(config, name)}')
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, '.write_test')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f'workdir {workdir} is not writable: {e.strerror}') from None
  try:
    checkpoint.check_compatible(config, workdir, RESUMABLE_FIELDS)
  except checkpoint.IncompatibleCheckpointError as e:
    raise ConfigError(str(e)) from None


@functools.cache
def _adam(lr: float, beta1: float, beta2: float) -> optax.GradientTransformation:
  # One object per setting: the optimiser is static state structure, so equal
  # configs must give equal structures or every run would compile anew.
  return optax.adam(lr, beta1, beta2)


def create_state(config: GANConfig) -> GANState:
  return GANState.create(
      rng=jax.random.PRNGKey(config.seed),
      generator=MLPGenerator(hidden=config.g_hidden, depth=config.g_depth,
                             out_dim=2, batch_norm=config.g_batch_norm),
      discriminator=MaxoutDiscriminator(hidden=config.d_hidden,
                                        depth=config.d_depth,
                                        pieces=config.d_pieces),
      g_tx=_adam(config.g_lr, config.beta1, config.beta2),
      d_tx=_adam(config.d_lr, config.beta1, config.beta2),
      latent_shape=(config.latent_dim,),
      data_shape=(2,),
  )


def evaluate(state: GANState, mixture: toy2d.Mixture2D,
             z: jax.Array) -> tuple[dict[str, float], np.ndarray]:
  """Mode metrics of G(z) (inference mode) and the samples themselves."""
  samples = state.generate(z)
  scores = mode_metrics(samples, mixture.means, mixture.sigma)
  return ({'modes': int(scores.modes), 'hq': float(scores.hq),
           'reverse_kl': float(scores.reverse_kl)}, np.asarray(samples))


def _truncate_metrics(path: str, last_step: int) -> None:
  """Drops records written after ``last_step`` (by a run that did not checkpoint)."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    records = [line for line in f if line.strip()]
  kept = [line for line in records if json.loads(line)['step'] <= last_step]
  with open(path, 'w') as f:
    f.writelines(kept)


def _next_boundary(step: int, config: GANConfig) -> int:
  def next_multiple(every):
    return (step // every + 1) * every
  return min(next_multiple(config.eval_every),
             next_multiple(config.checkpoint_every), config.steps)


def train_and_evaluate(config: GANConfig, workdir: str) -> Optional[dict]:
  """Trains (or resumes) the run in ``workdir``; returns the last evaluation.

  Raises:
    ConfigError: before any computation, if the config or workdir is unusable.
    NonFiniteLossError: if a loss becomes NaN or infinite; the last good
      checkpoint is left as it was.
  """
  validate(config, workdir)
  schedule = config.schedule
  if (reason := schedule.inert_reason()) is not None:
    logging.warning('%s', reason)
  mixture = toy2d.get_mixture(config.dataset)
  checkpoint.write_config(config, workdir)
  metrics_path = os.path.join(workdir, 'metrics.jsonl')

  state = create_state(config)
  ckpt = checkpoint.Checkpointer(workdir)
  if (restored_step := ckpt.latest_step()) is not None:
    state = ckpt.restore(state)
    logging.info('resumed from the checkpoint at step %d in %s', restored_step,
                 workdir)
    _truncate_metrics(metrics_path, restored_step)
  else:
    _truncate_metrics(metrics_path, 0)

  eval_z = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(config.seed), 1),
                             (config.eval_samples, config.latent_dim))
  step = int(state.step)
  last_eval = None
  # Training metrics are averaged on the host since the last evaluation; after a
  # resume mid-interval that average covers only the stages run since the resume.
  # Evaluation metrics (modes, hq, reverse_kl) do not depend on it.
  sums, count, interval_start = {}, 0, time.perf_counter()
  while step < config.steps:
    num = _next_boundary(step, config) - step
    state, metrics, bad_step = train_stages(
        state, jnp.asarray(num, jnp.int32), schedule=schedule,
        sample_real=toy2d.real_sampler(config.dataset),
        batch_size=config.batch_size)
    if (bad_step := int(bad_step)) != 0:
      last_good = ckpt.latest_step()
      ckpt.close()
      raise NonFiniteLossError(
          f'non-finite loss at stage {bad_step}; stopped. The last good '
          f'checkpoint (step {last_good}) in {workdir} is intact.')
    step = int(state.step)
    for k, v in metrics.items():
      sums[k] = sums.get(k, 0.0) + float(v) * num
    count += num

    if step % config.eval_every == 0 or step == config.steps:
      elapsed = time.perf_counter() - interval_start
      scores, samples = evaluate(state, mixture, eval_z)
      record = {'step': step, **scores,
                **{k: v / count for k, v in sorted(sums.items())},
                'stages_per_sec': count / elapsed}
      with open(metrics_path, 'a') as f:
        f.write(json.dumps(record) + '\n')
      plotting.plot_samples_2d(
          os.path.join(workdir, f'samples_{step:07d}.png'), samples,
          mixture.means, mixture.sigma,
          f'{config.dataset}, λ={config.reg_lambda:g}, stage {step}: '
          f'{scores["modes"]}/{mixture.num_modes} modes, {scores["hq"]:.1f}% HQ, '
          f'KL {scores["reverse_kl"]:.2f}')
      logging.info(
          'stage %d/%d  modes %d/%d  hq %.1f%%  reverse_kl %.3f  d_loss %.3f  '
          'g_loss %.3f  (%.0f stages/s)', step, config.steps, scores['modes'],
          mixture.num_modes, scores['hq'], scores['reverse_kl'],
          record['d_loss'], record['g_loss'], record['stages_per_sec'])
      last_eval = record
      sums, count, interval_start = {}, 0, time.perf_counter()
    if step % config.checkpoint_every == 0 or step == config.steps:
      ckpt.save(step, state)
  ckpt.close()

  if last_eval is None:
    logging.info('%s is already at step %d of %d; nothing to train.', workdir,
                 step, config.steps)
    last_eval = _read_last_record(metrics_path)
  return last_eval


def _read_last_record(path: str) -> Optional[dict]:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    lines = [line for line in f if line.strip()]
  return json.loads(lines[-1]) if lines else None
