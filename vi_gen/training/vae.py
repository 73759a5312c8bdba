"""Train and evaluate a VAE on binarised MNIST (``experiments.vae``).

``train_and_evaluate(config, workdir)`` runs :func:`vi_gen.training.loop.run`
with :class:`VAETask` and writes to ``workdir``:

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

import os
from typing import Optional

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np

from vi_gen import parallel
from vi_gen import plotting
from vi_gen import progress
from vi_gen import xla
from vi_gen.data import images as image_data
from vi_gen.losses import vae as vae_losses
from vi_gen.training import build
from vi_gen.training import loop
from vi_gen.training import vae_step
from vi_gen.training.config import ConfigError, VAEConfig
from vi_gen.training.validation import require_data, validate_vae


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


def _batched(fn, state, test: np.ndarray, batch: int, key: jax.Array, mesh,
             what: Optional[str] = None):
  """``fn(state, batch, key_i)`` over ``test`` in batches; per-example results.

  Every process holds all of ``test``; each feeds its slice of every batch
  (:func:`vi_gen.parallel.local_batch_slice`) and receives the whole result.
  With ``what``, a progress line names it every ~10 s.
  """
  out, local = [], parallel.local_batch_slice(batch)
  report = what and progress.Progress(what, len(test), 'examples')
  for i in range(0, len(test), batch):
    if report:
      report(i)
    part = test[i:i + batch]
    if len(part) < batch:  # the last batch padded; padded results dropped
      part = np.concatenate([part, np.zeros((batch - len(part), *part.shape[1:]),
                                            part.dtype)])
    result = fn(state, parallel.shard_batch(part[local], mesh),
                jax.random.fold_in(key, i))
    result = multihost_utils.process_allgather(result, tiled=True)
    out.append(np.asarray(result)[:min(batch, len(test) - i)])
  return np.concatenate(out)


class VAETask:
  """Batches from the TFDS pipeline, ``steps_per_call`` steps per compiled call."""
  unit = 'step'

  def __init__(self, config: VAEConfig, mesh, data_dir, manual_dir):
    self.config = config
    self.mesh = mesh
    self.data_kwargs = dict(data_dir=data_dir, manual_dir=manual_dir)
    test = image_data.load_arrays(config.dataset, 'test', **self.data_kwargs)[0]
    self.test = test[:config.eval_examples].astype(np.float32) / 255.0
    self.eval_key = jax.random.PRNGKey(config.seed + 1)
    self.grid_z = jax.random.normal(jax.random.fold_in(self.eval_key, 1),
                                    (64, config.latent_dim))
    self.batches = None

  def start(self, state: vae_step.VAEState) -> None:
    c, step = self.config, int(state.step)
    if step % c.steps_per_call:
      raise ConfigError(f'the run resumes at step {step}, which is not a '
                        f'multiple of steps_per_call={c.steps_per_call}')
    self.batches = image_data.train_batches(
        c.dataset, batch_size=c.batch_size, d_steps=c.steps_per_call,
        seed=c.seed, skip_stages=step // c.steps_per_call,
        process_slice=parallel.local_batch_slice(c.batch_size),
        **self.data_kwargs)

  def advance(self, state: vae_step.VAEState, num: int):
    sums = None
    for _ in range(num // self.config.steps_per_call):
      images = (next(self.batches)['image'] + 1.0) / 2.0  # [-1, 1] -> [0, 1]
      state, metrics = vae_step.train_steps(
          state, parallel.shard_batch(images, self.mesh, batch_axis=1))
      sums = metrics if sums is None else jax.tree.map(jnp.add, sums, metrics)
    host = jax.device_get({'step': state.step, 'sums': sums})
    means = {k: float(v) / num for k, v in host['sums'].items()}
    metrics = {'elbo': -means['loss'], 'kl': means['kl'],
               'reconstruction': means['reconstruction']}
    bad = 0 if np.isfinite(metrics['elbo']) else int(host['step'])
    return state, {'step': host['step'], 'count': num, 'metrics': metrics,
                   'bad_step': bad}

  def evaluate(self, state: vae_step.VAEState, step: int,
               workdir: Optional[str], writer) -> dict:
    c = self.config
    scores = {'test_elbo': float(np.mean(_batched(
        _test_elbo, state, self.test, c.eval_batch, self.eval_key, self.mesh)))}
    if step == c.steps and c.nll_samples:
      nll = _batched(
          lambda s, x, k: vae_step.importance_weighted_nll(
              s, x, k, num_samples=c.nll_samples, chunk=c.nll_chunk),
          state, self.test, c.eval_batch, self.eval_key, self.mesh,
          what=f'test NLL (k = {c.nll_samples})')
      scores.update(nll=float(np.mean(nll)), nll_samples=c.nll_samples)
    # Every process runs the computation (the state spans all of them).
    recon, samples = jax.device_get(_reconstruct_and_sample(
        state, *parallel.replicate((self.test[:8], self.grid_z), self.mesh)))
    pairs = plotting.image_grid(np.concatenate([self.test[:8], recon]) * 2 - 1)
    grid = plotting.image_grid(samples * 2 - 1)
    writer.image('eval/reconstructions', pairs[None], step)
    writer.image('eval/samples', grid[None], step)
    if workdir is not None:
      plotting.save_image_grid(
          os.path.join(workdir, f'reconstructions_{step:07d}.png'), pairs)
      plotting.save_image_grid(os.path.join(workdir, f'samples_{step:07d}.png'),
                               grid)
    return scores

  def describe(self, record: dict) -> str:
    nll = f'  nll {record["nll"]:.2f}' if 'nll' in record else ''
    return f'elbo {record["elbo"]:.2f}  test_elbo {record["test_elbo"]:.2f}{nll}'


def train_and_evaluate(config: VAEConfig, workdir: str, *,
                       data_dir: Optional[str] = None,
                       manual_dir: Optional[str] = None,
                       mesh=None) -> Optional[dict]:
  """Trains (or resumes) the run in ``workdir``; returns the last record.

  Raises:
    ConfigError: before any computation, if the config or workdir is unusable.
    NonFiniteLossError: if the ELBO becomes NaN or infinite.
  """
  mesh = parallel.make_mesh() if mesh is None else mesh
  validate_vae(config)
  require_data(config.dataset, data_dir, manual_dir)
  loop.prepare(config, workdir, mesh, {'batch_size': config.batch_size,
                                       'eval_batch': config.eval_batch})
  return loop.run(
      config, workdir, build.create_vae_state(config),
      lambda: VAETask(config, mesh, data_dir, manual_dir), mesh=mesh)
