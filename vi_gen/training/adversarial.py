"""Train and evaluate a GAN, AAE or ALI on a 2D mixture or an image dataset.

``train_and_evaluate(config, workdir)`` runs :func:`vi_gen.training.loop.run`
with one of two tasks and writes to ``workdir``:

* ``config.json``: the configuration (checked on resume);
* ``metrics.jsonl``: one JSON object per evaluation with ``step``, the dataset's
  metrics, the training losses averaged since the previous evaluation, and
  throughput. 2D: ``modes``, ``hq`` (percent), ``reverse_kl``. MNIST: ``fd``,
  ``fd_floor``, ``digit_modes`` and ``digit_kl`` (the fixed classifier's digits
  of the samples, of 10, and their histogram's KL to uniform); stacked MNIST
  ``stacked_modes`` and ``stacked_kl`` instead of the digits. The
  AAE and ALI add their encoder's scores;
* ``samples_STEP.png``: 2D samples over the true modes, or an 8×8 grid of images
  from a fixed z;
* TensorBoard event files (``tensorboard --logdir WORKDIR``): every number in
  metrics.jsonl, and the image grids;
* ``checkpoints/``: Orbax checkpoints; re-running on the same workdir resumes.
"""

import dataclasses
import os
from typing import Optional

from absl import logging
import jax
import numpy as np

from vi_gen import parallel
from vi_gen import plotting
from vi_gen.data import images as image_data
from vi_gen.data import toy2d
from vi_gen.metrics import evaluation
from vi_gen.metrics import image_metrics
from vi_gen.metrics import latent as latent_metrics
from vi_gen.metrics import mnist_classifier
from vi_gen.metrics.modes2d import mode_metrics
from vi_gen.training import build
from vi_gen.training import loop
from vi_gen.training import seeds as seeds_lib
from vi_gen.training import stage as stage_lib
from vi_gen.training import state as state_lib
from vi_gen.training.config import GANConfig
from vi_gen.training.validation import require_data, validate_gan

State = state_lib.AdversarialState

# Generated samples per evaluation that image recipes score: the
# stacked-MNIST protocol's 26,000; the MNIST test set's size for FD.
IMAGE_EVAL_SAMPLES = {'mnist': 10_000,
                      'stacked_mnist': image_metrics.STACKED_MNIST_SAMPLES}


def _to_host(state: State, metrics, count, bad_step) -> dict:
  """The one device-to-host transfer of a training interval, made explicitly."""
  return jax.device_get({'step': state.step, 'metrics': metrics, 'count': count,
                         'bad_step': bad_step})


class Toy2DTask:
  """2D mixtures: data sampled on device, many stages per compiled call.

  ``advance`` (and ``ImageTask.advance``) move data between host and device
  only explicitly (``device_put``/``device_get``), once per interval for
  results; ``tests/test_image_gan.py`` runs them under
  ``jax.transfer_guard('disallow')``.
  """

  unit = 'stage'

  def __init__(self, config: GANConfig, seed_key: jax.Array, mesh):
    self.config = config
    self.mesh = mesh
    self.mixture = toy2d.get_mixture(config.dataset)
    self.eval_z = jax.random.normal(seed_key, (config.eval_samples,
                                               config.latent_dim))
    real_key, self.prior_key = jax.random.split(jax.random.fold_in(seed_key, 1))
    self.eval_real = (self.mixture.sample(real_key, config.eval_samples)
                      if config.model != 'gan' else None)

  def start(self, state: State) -> None:
    del state

  def advance(self, state: State, num: int):
    state, metrics, bad_step = stage_lib.train_stages(
        state, parallel.replicate(np.int32(num), self.mesh),
        schedule=build.schedule(self.config),
        sample_real=toy2d.real_sampler(self.config.dataset),
        batch_size=self.config.batch_size, stage_fn=build.stage_fn(self.config))
    return state, _to_host(state, metrics, num, bad_step)

  def evaluate(self, state: State, step: int, workdir: Optional[str],
               writer) -> dict:
    """Scores samples; writes the picture to ``workdir`` and ``writer`` unless
    ``workdir`` is None."""
    samples = evaluation.generate(state, self.eval_z)
    scores = mode_metrics(samples, self.mixture.means, self.mixture.sigma)
    scores = {'modes': int(scores.modes), 'hq': float(scores.hq),
              'reverse_kl': float(scores.reverse_kl)}
    if self.eval_real is not None:
      encoder, recon = evaluation.encoder_scores(state, self.eval_real,
                                                 self.prior_key)
      encoder['recon_same_mode'] = 100.0 * float(latent_metrics.same_mode_fraction(
          self.eval_real, recon, self.mixture.means, self.mixture.sigma))
      scores.update(encoder)
    if workdir is None:
      return scores
    picture = plotting.plot_samples_2d(
        os.path.join(workdir, f'samples_{step:07d}.png'), samples,
        self.mixture.means, self.mixture.sigma,
        f'{self.config.dataset}, λ={self.config.reg_lambda:g}, stage {step}: '
        f'{scores["modes"]}/{self.mixture.num_modes} modes, '
        f'{scores["hq"]:.1f}% HQ, KL {scores["reverse_kl"]:.2f}')
    writer.image('eval/samples', picture[None], step)
    return scores

  def describe(self, record: dict) -> str:
    return (f'modes {record["modes"]}/{self.mixture.num_modes}  hq '
            f'{record["hq"]:.1f}%  reverse_kl {record["reverse_kl"]:.3f}'
            + _describe_encoder(record) + _describe_losses(record))


def _describe_losses(record: dict) -> str:
  return f'  d_loss {record["d_loss"]:.3f}  g_loss {record["g_loss"]:.3f}'


def _describe_encoder(scores: dict) -> str:
  parts = []
  if 'recon_same_mode' in scores:
    parts.append(f'recon_same_mode {scores["recon_same_mode"]:.1f}%')
  if 'recon_accuracy' in scores:
    parts.append(f'recon_accuracy {scores["recon_accuracy"]:.1f}%')
  if 'code_mmd' in scores:
    parts.append(f'reconstruction {scores["reconstruction"]:.4f}  '
                 f'code_mmd {scores["code_mmd"]:.4f}')
  return ''.join('  ' + p for p in parts)


class ImageTask:
  """Image datasets: batches from a TFDS pipeline, one compiled stage per call.

  Metrics use the fixed MNIST classifier where it applies: ``mnist`` (FD) and
  ``stacked_mnist`` (modes, KL and FD). The real statistics and the FD floor are
  computed once per process, from the test and train splits with the same count.
  AAE and ALI are also scored on ``eval_samples`` test images
  (:func:`encoder_scores`; with the classifier, ``recon_accuracy``: the
  percentage of G(E(x)) given x's label, every channel's for stacked MNIST),
  and ``reconstructions_STEP.png`` shows 32 test images above their G(E(x)).
  """
  GRID = 64
  unit = 'stage'

  def __init__(self, config: GANConfig, seed_key: jax.Array, mesh, data_dir,
               manual_dir):
    self.config = config
    self.mesh = mesh
    self.info = image_data.get_dataset(config.dataset)
    self.data_kwargs = dict(data_dir=data_dir, manual_dir=manual_dir)
    z_key, grid_key = jax.random.split(seed_key)
    self.eval_z = jax.random.normal(z_key, (config.eval_samples, config.latent_dim))
    self.grid_z = jax.random.normal(grid_key, (self.GRID, config.latent_dim))
    self.has_metrics = (config.dataset in IMAGE_EVAL_SAMPLES
                        and config.eval_samples > 0)
    self.prior_key = jax.random.fold_in(seed_key, 2)
    # Streamed datasets (CelebA) have no test split in memory to encode.
    self.scores_encoder = (config.model != 'gan' and config.eval_samples > 0
                           and self.info.in_memory)
    self.batches = None
    self.real_stats = None

  def start(self, state: State, like: Optional['ImageTask'] = None) -> None:
    """Opens the data pipeline at ``state``'s stage and prepares the scoring;
    the scoring's data (classifier, real statistics, test set) is taken from
    ``like``, another seed's started task, when given."""
    c = self.config
    self.batches = image_data.train_batches(
        c.dataset, batch_size=c.batch_size, d_steps=c.d_steps, seed=c.seed,
        skip_stages=int(state.step),
        process_slice=parallel.local_batch_slice(c.batch_size), **self.data_kwargs)
    self.real_shape = (c.d_steps, c.batch_size, *self.info.shape)
    if like is not None:
      for name in ('classifier', 'real_stats', 'fd_floor', 'test_x', 'test_labels'):
        if hasattr(like, name):
          setattr(self, name, getattr(like, name))
      return
    if self.has_metrics:
      self._prepare_metrics()
    if self.scores_encoder:
      self.test_x, self.test_labels = evaluation.encoder_eval_set(
          c.dataset, c.eval_samples, **self.data_kwargs)

  def _prepare_metrics(self) -> None:
    self.classifier = mnist_classifier.load()
    self.real_stats, self.fd_floor = evaluation.real_feature_stats(
        self.config.dataset, self.config.eval_samples, **self.data_kwargs)

  def advance(self, state: State, num: int):
    schedule, stage_fn = build.schedule(self.config), build.stage_fn(self.config)
    totals = stage_lib.zero_totals(state, self.real_shape, schedule, stage_fn)
    for _ in range(num):
      real = parallel.shard_batch(next(self.batches)['image'], self.mesh,
                                  batch_axis=1)
      state, totals = stage_lib.train_stage_on_batch(
          state, real, totals, schedule=schedule, stage_fn=stage_fn)
    host = _to_host(state, *totals)  # sums, count, bad_step
    host['metrics'] = {k: v / max(host['count'], 1)
                       for k, v in host['metrics'].items()}
    return state, host

  def evaluate(self, state: State, step: int, workdir: Optional[str],
               writer) -> dict:
    """Scores samples; writes the grid to ``workdir`` unless it is None."""
    grid = plotting.image_grid(evaluation.generate(state, self.grid_z))
    if workdir is not None:
      plotting.save_image_grid(os.path.join(workdir, f'samples_{step:07d}.png'),
                               grid)
    writer.image('eval/samples', grid[None], step)
    scores = {}
    if self.scores_encoder:
      scores, recon = evaluation.encoder_scores(state, self.test_x, self.prior_key)
      pairs = plotting.image_grid(np.concatenate([self.test_x[:32], recon[:32]]))
      if workdir is not None:
        plotting.save_image_grid(
            os.path.join(workdir, f'reconstructions_{step:07d}.png'), pairs)
      writer.image('eval/reconstructions', pairs[None], step)
      if self.has_metrics:
        labels = self.classifier.channel_outputs(recon)[0]
        scores['recon_accuracy'] = 100.0 * float(np.mean(
            np.all(labels == self.test_labels, axis=-1)))
    if not self.has_metrics:
      return scores
    labels, features = self.classifier.channel_outputs(
        evaluation.generate(state, self.eval_z))
    scores.update(fd=image_metrics.frechet_distance(
        image_metrics.gaussian_stats(features), self.real_stats),
                  fd_floor=self.fd_floor)
    if self.config.dataset == 'stacked_mnist':
      modes = image_metrics.stacked_mnist_modes(labels)
      scores.update(stacked_modes=modes.modes, stacked_kl=modes.kl)
    else:
      modes = image_metrics.digit_modes(labels)
      scores.update(digit_modes=modes.modes, digit_kl=modes.kl)
    return scores

  def describe(self, record: dict) -> str:
    scores = record
    parts = []
    if 'stacked_modes' in scores:
      parts.append(f'modes {scores["stacked_modes"]}/1000  '
                   f'kl {scores["stacked_kl"]:.3f}')
    if 'digit_modes' in scores:
      parts.append(f'digits {scores["digit_modes"]}/10  '
                   f'kl {scores["digit_kl"]:.3f}')
    if 'fd' in scores:
      parts.append(f'fd {scores["fd"]:.3f} (floor {scores["fd_floor"]:.3f})')
    return (('  '.join(parts) + _describe_encoder(scores)).strip()
            or 'samples written') + _describe_losses(record)


def _evaluate_average(task, config: GANConfig):
  """``task.evaluate`` scoring G's moving average, the current G's prefixed."""
  evaluate = task.evaluate

  def scores(state, step, workdir, writer):
    averaged = evaluate(state_lib.averaged(state), step, workdir, writer)
    current = evaluate(state, step, None, loop.NullWriter())
    return {**averaged, **{f'current_{k}': v for k, v in current.items()}}
  return scores if config.g_ema else evaluate


def train_and_evaluate(config: GANConfig, workdir: str, *,
                       data_dir: Optional[str] = None,
                       manual_dir: Optional[str] = None,
                       mesh: Optional[jax.sharding.Mesh] = None) -> Optional[dict]:
  """Trains (or resumes) the run in ``workdir``; returns the last evaluation.

  Args:
    config: the experiment.
    workdir: where outputs go; an existing run there is resumed.
    data_dir, manual_dir: TFDS directories for image datasets (see
      :func:`vi_gen.data.images.tfds_kwargs`).
    mesh: the data-parallel mesh (default: all devices, :mod:`vi_gen.parallel`).
      The state is replicated over it and every batch split across it.

  Raises:
    ConfigError: before any computation, if the config or workdir is unusable.
    NonFiniteLossError: if a loss becomes NaN or infinite (with
      ``config.num_seeds`` > 1: in every seed; see :mod:`vi_gen.training.seeds`
      for one seed's); the last good checkpoint is left as it was.
  """
  mesh = parallel.make_mesh() if mesh is None else mesh
  validate_gan(config)
  if config.is_image:
    require_data(config.dataset, data_dir, manual_dir)
  loop.prepare(config, workdir, mesh, {'batch_size': config.batch_size})
  if config.model == 'gan' and (reason := build.schedule(config).inert_reason()):
    logging.warning('%s', reason)

  def make_task(config):
    seed_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    task = (ImageTask(config, seed_key, mesh, data_dir, manual_dir)
            if config.is_image else Toy2DTask(config, seed_key, mesh))
    task.evaluate = _evaluate_average(task, config)
    return task

  if config.num_seeds == 1:
    return loop.run(config, workdir, build.create_state(config),
                    lambda: make_task(config), mesh=mesh)
  # Many seeds, one program: each seed's own configuration supplies its
  # initialisation, data and scoring; the bundle trains them together.
  seed_configs = [dataclasses.replace(config, seed=config.seed + k, num_seeds=1)
                  for k in range(config.num_seeds)]
  first = build.create_state(seed_configs[0])
  seeds_lib.check_fits(config.num_seeds, seeds_lib.tree_bytes(first))
  bundle = seeds_lib.bundle_of(
      [first, *(build.create_state(c) for c in seed_configs[1:])])
  return loop.run(
      config, workdir, bundle,
      lambda: seeds_lib.BundleTask([make_task(c) for c in seed_configs],
                                   [c.seed for c in seed_configs], workdir,
                                   lead=jax.process_index() == 0),
      mesh=mesh)
