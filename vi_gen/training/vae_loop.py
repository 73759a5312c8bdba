"""Train and evaluate a VAE on binarised MNIST (``experiments.vae``).

``train_and_evaluate(config, workdir)`` writes to ``workdir``:

* ``config.json`` (checked on resume) and ``checkpoints/`` (Orbax; re-running
  resumes, and the data stream skips the batches already used);
* ``metrics.jsonl``: at every evaluation ``step``, ``elbo`` (the training ELBO,
  nats per example, averaged since the previous evaluation), ``kl``,
  ``reconstruction``, ``test_elbo`` (single-sample, on ``eval_examples`` test
  images, binarised once with a fixed key) and ``steps_per_sec``; at the last
  step also ``nll``: −log q(x) from ``nll_samples`` importance samples;
* ``reconstructions_STEP.png`` (test images above their reconstructions) and
  ``samples_STEP.png`` (decoder means for z from the prior).

Images come from the GAN's TFDS pipeline (``vi_gen/data/images.py``) as
intensities in [0, 1]; a Bernoulli decoder sees them binarised anew at every
step (``vae_step.train_step``).
"""

import dataclasses
import json
import os
import time
from typing import Optional

from absl import logging
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np
import optax

from vi_gen import checkpoint
from vi_gen import parallel
from vi_gen import plotting
from vi_gen import xla
from vi_gen.data import images as image_data
from vi_gen.losses import vae as vae_losses
from vi_gen.models import vae as vae_models
from vi_gen.training import optimizers
from vi_gen.training import vae_step


@dataclasses.dataclass(frozen=True)
class VAEConfig:
  """Defaults: the one-stochastic-layer anchor (784-200-200-50, Bernoulli).

  ``optimizer``: ``'adam'`` (optax's) or ``'iwae_adam'``, the Adam of Burda et
  al.'s released code (:func:`vi_gen.training.optimizers.iwae_adam`: β₁ = 0.99,
  ε = 1e-4, second moments from 1), both on ``learning_rate`` and
  ``lr_schedule``.

  ``steps_per_call`` steps run in one jitted call (:func:`vae_step.train_steps`),
  which pays at small batches; ``steps``, ``eval_every`` and
  ``checkpoint_every`` must be multiples of it.
  """
  dataset: str = 'mnist'
  architecture: str = 'mlp'
  likelihood: str = 'bernoulli'
  latent_dim: int = 50
  hidden: int = 200
  width: int = 32
  batch_size: int = 100
  learning_rate: float = 1e-3
  lr_schedule: str = 'constant'
  optimizer: str = 'adam'
  steps: int = 30_000
  seed: int = 0
  eval_every: int = 5_000
  checkpoint_every: int = 5_000
  steps_per_call: int = 1
  eval_examples: int = 10_000
  eval_batch: int = 100
  nll_samples: int = 5_000
  nll_chunk: int = 500


RESUMABLE_FIELDS = ('steps', 'eval_every', 'checkpoint_every', 'steps_per_call',
                    'eval_examples', 'eval_batch', 'nll_samples', 'nll_chunk')


LR_SCHEDULES = ('constant', 'iwae')

OPTIMIZERS = {'adam': optax.adam, 'iwae_adam': optimizers.iwae_adam}


class ConfigError(ValueError):
  """A configuration that cannot run; raised before any computation."""


def learning_rate_schedule(config: VAEConfig) -> optax.Schedule:
  """The Adam learning rate by step.

  ``'constant'``: ``learning_rate`` throughout. ``'iwae'``: the schedule of
  Burda et al. (2015, §5), whose 3,280 passes over the data are 8 stages of
  3^i passes at ``learning_rate · 10^(−i/7)``, i = 0…7; here the stages keep
  those proportions of ``steps``, so the rate falls tenfold over the run and
  two thirds of the steps run at the last, lowest rate.
  """
  if config.lr_schedule == 'constant':
    return optax.constant_schedule(config.learning_rate)
  lengths = np.array([3 ** i for i in range(8)], np.float64)
  ends = np.cumsum(lengths)[:-1] / lengths.sum() * config.steps
  return optax.piecewise_constant_schedule(
      config.learning_rate, {int(round(e)): 10 ** (-1 / 7) for e in ends})


def validate(config: VAEConfig, workdir: str, mesh) -> None:
  if config.dataset not in image_data.DATASETS:
    raise ConfigError(f'unknown dataset {config.dataset!r}')
  for name in ('latent_dim', 'hidden', 'width', 'batch_size', 'steps',
               'eval_every', 'checkpoint_every', 'steps_per_call', 'eval_examples',
               'eval_batch', 'nll_chunk'):
    if getattr(config, name) < 1:
      raise ConfigError(f'{name} must be >= 1, got {getattr(config, name)}')
  for name in ('steps', 'eval_every', 'checkpoint_every'):
    if getattr(config, name) % config.steps_per_call:
      raise ConfigError(f'{name}={getattr(config, name)} is not a multiple of '
                        f'steps_per_call={config.steps_per_call}')
  if config.nll_samples < 0:
    raise ConfigError(f'nll_samples must be >= 0, got {config.nll_samples}')
  if not config.learning_rate > 0:
    raise ConfigError(f'learning_rate must be > 0, got {config.learning_rate}')
  if config.lr_schedule not in LR_SCHEDULES:
    raise ConfigError(f'lr_schedule must be one of {LR_SCHEDULES}, '
                      f'got {config.lr_schedule!r}')
  if config.optimizer not in OPTIMIZERS:
    raise ConfigError(f'optimizer must be one of {tuple(OPTIMIZERS)}, '
                      f'got {config.optimizer!r}')
  try:
    parallel.check_batch_size(config.batch_size, mesh)
    parallel.check_batch_size(config.eval_batch, mesh, 'eval_batch')
    vae_models.make_vae(config.architecture, (28, 28, 1), likelihood=config.likelihood)
    os.makedirs(workdir, exist_ok=True)
    checkpoint.check_compatible(config, workdir, checkpoint.resumable(
        RESUMABLE_FIELDS, steps_scheduled=config.lr_schedule != 'constant'))
  except (ValueError, OSError) as e:
    raise ConfigError(str(e)) from None


def create_state(config: VAEConfig) -> vae_step.VAEState:
  shape = image_data.get_dataset(config.dataset).shape
  model = vae_models.make_vae(config.architecture, shape, config.latent_dim,
                              config.likelihood, (config.hidden, config.hidden),
                              config.width)
  return vae_step.VAEState.create(
      rng=jax.random.PRNGKey(config.seed), model=model,
      tx=OPTIMIZERS[config.optimizer](learning_rate_schedule(config)),
      image_shape=shape,
      latent_dim=config.latent_dim, likelihood=config.likelihood)


@xla.jit
def _test_elbo(state: vae_step.VAEState, images: jax.Array, key: jax.Array):
  data_key, z_key = jax.random.split(key)
  x = parallel.constrain_batch(vae_step.prepare(state, data_key, images))
  mean, log_var = state.model.apply({'params': state.params}, x, method='encode')
  loss, _ = vae_losses.negative_elbo(z_key, x, mean, log_var,
                                     vae_step.decoder_log_prob(state, state.params))
  return -loss


@xla.jit
def _reconstruct_and_sample(state: vae_step.VAEState, images: jax.Array,
                            z: jax.Array):
  """Decoder means (probabilities for Bernoulli) of E[z|x] and of prior draws."""
  def mean_image(z):
    out = state.model.apply({'params': state.params}, z, method='decode')
    return jax.nn.sigmoid(out) if state.likelihood == 'bernoulli' else out[0]
  mean, _ = state.model.apply({'params': state.params}, images, method='encode')
  return mean_image(mean), mean_image(z)


def _batched(fn, state, test: np.ndarray, batch: int, key: jax.Array, mesh):
  """``fn(state, batch, key_i)`` over ``test`` in batches; per-example results.

  Every process holds all of ``test``; each feeds its slice of every batch
  (:func:`vi_gen.parallel.local_batch_slice`) and receives the whole result.
  """
  out, local = [], parallel.local_batch_slice(batch)
  for i in range(0, len(test), batch):
    part = test[i:i + batch]
    if len(part) < batch:  # the last batch padded; padded results dropped
      part = np.concatenate([part, np.zeros((batch - len(part), *part.shape[1:]),
                                            part.dtype)])
    result = fn(state, parallel.shard_batch(part[local], mesh),
                jax.random.fold_in(key, i))
    result = multihost_utils.process_allgather(result, tiled=True)
    out.append(np.asarray(result)[:min(batch, len(test) - i)])
  return np.concatenate(out)


def train_and_evaluate(config: VAEConfig, workdir: str, *,
                       data_dir: Optional[str] = None,
                       manual_dir: Optional[str] = None,
                       mesh=None) -> Optional[dict]:
  """Trains (or resumes) the run in ``workdir``; returns the last record."""
  mesh = parallel.make_mesh() if mesh is None else mesh
  validate(config, workdir, mesh)
  lead = jax.process_index() == 0
  if lead:
    checkpoint.write_config(config, workdir)
  metrics_path = os.path.join(workdir, 'metrics.jsonl')
  state = parallel.replicate(create_state(config), mesh)
  ckpt = checkpoint.Checkpointer(workdir)
  if ckpt.latest_step() is not None:
    state = ckpt.restore(state)
    logging.info('resumed from the checkpoint at step %d', int(state.step))
  step = int(state.step)
  per_call = config.steps_per_call
  if step % per_call:
    raise ConfigError(f'{workdir} resumes at step {step}, which is not a multiple '
                      f'of steps_per_call={per_call}')
  if lead:
    checkpoint.truncate_metrics(metrics_path, step)

  kwargs = dict(data_dir=data_dir, manual_dir=manual_dir)
  test = image_data.load_arrays(config.dataset, 'test', **kwargs)[0]
  test = (test[:config.eval_examples].astype(np.float32) / 255.0)
  batches = image_data.train_batches(
      config.dataset, batch_size=config.batch_size, d_steps=per_call,
      seed=config.seed, skip_stages=step // per_call,
      process_slice=parallel.local_batch_slice(config.batch_size), **kwargs)
  eval_key = jax.random.PRNGKey(config.seed + 1)
  grid_z = jax.random.normal(jax.random.fold_in(eval_key, 1), (64, config.latent_dim))
  sums, count, start, last = None, 0, time.perf_counter(), None
  try:
    with jax.set_mesh(mesh):
      while step < config.steps:
        images = (next(batches)['image'] + 1.0) / 2.0  # [-1, 1] -> [0, 1]
        state, metrics = vae_step.train_steps(
            state, parallel.shard_batch(images, mesh, batch_axis=1))
        sums = metrics if sums is None else jax.tree.map(jnp.add, sums, metrics)
        count += per_call
        step += per_call
        if step % config.eval_every and step != config.steps:
          if step % config.checkpoint_every == 0:
            ckpt.save(step, state)
          continue
        means = {k: float(v) / count for k, v in jax.device_get(sums).items()}
        record = {'step': step, 'elbo': -means['loss'], 'kl': means['kl'],
                  'reconstruction': means['reconstruction'],
                  'steps_per_sec': count / (time.perf_counter() - start)}
        if not np.isfinite(record['elbo']):
          raise FloatingPointError(f'non-finite ELBO by step {step}; stopped')
        record['test_elbo'] = float(np.mean(_batched(
            _test_elbo, state, test, config.eval_batch, eval_key, mesh)))
        if step == config.steps and config.nll_samples:
          nll = _batched(
              lambda s, x, k: vae_step.importance_weighted_nll(
                  s, x, k, num_samples=config.nll_samples,
                  chunk=config.nll_chunk),
              state, test, config.eval_batch, eval_key, mesh)
          record['nll'] = float(np.mean(nll))
          record['nll_samples'] = config.nll_samples
        # Every process runs the computation (the state spans all of them).
        recon, samples = jax.device_get(_reconstruct_and_sample(
            state, *parallel.replicate((test[:8], grid_z), mesh)))
        if lead:
          pair = np.concatenate([test[:8], recon]) * 2 - 1
          plotting.save_image_grid(
              os.path.join(workdir, f'reconstructions_{step:07d}.png'),
              plotting.image_grid(pair))
          plotting.save_image_grid(os.path.join(workdir, f'samples_{step:07d}.png'),
                                   plotting.image_grid(samples * 2 - 1))
          with open(metrics_path, 'a') as f:
            f.write(json.dumps(record) + '\n')
        logging.info('step %d/%d  elbo %.2f  test_elbo %.2f%s  (%.1f steps/s)',
                     step, config.steps, record['elbo'], record['test_elbo'],
                     f'  nll {record["nll"]:.2f}' if 'nll' in record else '',
                     record['steps_per_sec'])
        last = record
        if step % config.checkpoint_every == 0 or step == config.steps:
          ckpt.save(step, state)
        sums, count, start = None, 0, time.perf_counter()
  finally:
    ckpt.close()
  return last
