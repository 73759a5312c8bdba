"""Scoring a trained model: samples, codes and reconstructions in bounded chunks.

The functions here take any state with ``generate(z)`` (and, for the AAE and
ALI, ``encode(x)``) and never import the training package, so an evaluation
can score a state restored from a checkpoint as well as one being trained.
"""

import functools
from typing import Optional

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from vi_gen import parallel
from vi_gen import progress
from vi_gen import xla
from vi_gen.data import images as image_data
from vi_gen.metrics import image_metrics
from vi_gen.metrics import latent as latent_metrics
from vi_gen.metrics import mnist_classifier


def _split_if_single_process(x: jax.Array) -> jax.Array:
  if jax.process_count() == 1:
    # Split each chunk over the devices. With several processes the chunk stays
    # replicated, so that every process can read the results it scores.
    x = parallel.constrain_batch(x)
  return x


@xla.jit
def _generate(state, z: jax.Array) -> jax.Array:
  return state.generate(_split_if_single_process(z))


@xla.jit
def _encode_and_reconstruct(state, x: jax.Array):
  codes = state.encode(_split_if_single_process(x))
  return codes, state.generate(codes)


def _in_chunks(fn, state, inputs: jax.Array, chunk: int):
  """``fn(state, part)`` over fixed-size chunks of ``inputs``, concatenated.

  Under a mesh each chunk is split over its devices (512 divides evenly over
  any power-of-two device count up to 512).
  """
  out = []
  report = progress.Progress('evaluation: generating', len(inputs), 'samples')
  for i in range(0, len(inputs), chunk):
    report(i)  # a line only if this takes longer than progress.EVERY_SECS
    part = inputs[i:i + chunk]
    pad = chunk - len(part) if len(inputs) > chunk else 0
    if pad:
      part = jnp.concatenate([part, jnp.zeros((pad, *part.shape[1:]), part.dtype)])
    out.append(jax.tree.map(lambda a: np.asarray(a)[:len(part) - pad],
                            fn(state, part)))
  return jax.tree.map(lambda *parts: np.concatenate(parts), *out)


def generate(state, z: jax.Array, chunk: int = 512) -> np.ndarray:
  """G(z) in inference mode, in fixed-size chunks so that memory stays bounded."""
  return _in_chunks(_generate, state, z, chunk)


def encode_and_reconstruct(state, x, chunk: int = 512) -> tuple[np.ndarray,
                                                                 np.ndarray]:
  """E(x) and G(E(x)) in inference mode (mean codes), in fixed-size chunks."""
  return _in_chunks(_encode_and_reconstruct, state, jnp.asarray(x), chunk)


def encoder_scores(state, x, key: jax.Array) -> tuple[dict, np.ndarray]:
  """Scores of E for AAE and ALI on real ``x``; also returns G(E(x)).

  ``reconstruction``: the element-wise mean of (x − G(E(x)))²;
  ``code_mmd``: MMD² between E(x) and as many N(0, I) draws
  (:mod:`vi_gen.metrics.latent`); ``code_mean_norm`` and ``code_cov_distance``.
  """
  codes, recon = encode_and_reconstruct(state, x)
  x = np.asarray(x, np.float32)
  prior = jax.random.normal(key, codes.shape)
  moments = latent_metrics.moment_distances(jnp.asarray(codes))
  return {
      'reconstruction': float(np.mean(np.square(recon - x))),
      'code_mmd': float(latent_metrics.mmd_squared(jnp.asarray(codes), prior)),
      'code_mean_norm': float(moments.mean_norm),
      'code_cov_distance': float(moments.cov_distance),
  }, recon


@functools.cache
def encoder_eval_set(dataset: str, count: int, data_dir: Optional[str],
                     manual_dir: Optional[str]) -> tuple[np.ndarray, np.ndarray]:
  """The first ``count`` test images in [−1, 1] and their labels ``[count, C]``.

  Stacked MNIST draws its test triples with a fixed seed.
  """
  x, y = image_data.load_arrays(dataset, 'test', data_dir=data_dir,
                                manual_dir=manual_dir)
  if dataset == 'stacked_mnist':
    x, y = image_data.stack_digits(x, y, count, np.random.default_rng(1))
  x, y = x[:count], np.asarray(y[:count]).reshape(min(count, len(x)), -1)
  return (x.astype(np.float32) / 127.5 - 1.0), y


@functools.cache
def real_feature_stats(dataset: str, count: int, data_dir: Optional[str],
                       manual_dir: Optional[str]):
  """Classifier-feature statistics of ``count`` real test images, and the FD floor.

  The floor is the Fréchet distance from ``count`` real *train* images to the
  same test statistics. Stacked MNIST draws its triples with a fixed seed.
  Computed once per process: every run and evaluation compares with the same.
  """
  classifier = mnist_classifier.load()
  kwargs = dict(data_dir=data_dir, manual_dir=manual_dir)
  test_x, test_y = image_data.load_arrays('mnist', 'test', **kwargs)
  train_x, train_y = image_data.load_arrays('mnist', 'train', **kwargs)
  if dataset == 'stacked_mnist':
    rng = np.random.default_rng(0)
    test_x, _ = image_data.stack_digits(test_x, test_y, count, rng)
    train_x, _ = image_data.stack_digits(train_x, train_y, count, rng)
  else:
    test_x, train_x = test_x[:count], train_x[:count]
  stats = [image_metrics.gaussian_stats(classifier.channel_outputs(x)[1])
           for x in (test_x, train_x)]
  floor = image_metrics.frechet_distance(*stats)
  logging.info('FD floor (real test vs real train, %d each): %.3f', count, floor)
  return stats[0], floor
