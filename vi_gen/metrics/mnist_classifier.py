"""The project's fixed MNIST classifier: labels for stacked MNIST, features for FD.

Every image metric in vi_gen that needs a classifier uses the same weights, shipped
in ``vi_gen/metrics/assets/mnist_classifier.msgpack`` with a JSON record of how
they were made (seed, epochs, test accuracy, SHA-256). Rebuild them with::

    TFDS_MANUAL_DIR=/path/to/mnist python -m experiments.mnist_classifier

Training is deterministic given the seed (fixed initialisation, a seeded NumPy
permutation per epoch, no dropout), so on the same platform and library versions
the rebuild reproduces the file byte for byte.

Inputs are 28×28×1 images in [−1, 1], the range the generators produce.
``features`` is the 128-unit penultimate layer (after ReLU).
"""

import dataclasses
import functools
import hashlib
import json
import os
import time
from typing import Any, Optional

from absl import logging
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vi_gen import progress
from vi_gen import xla

PyTree = Any

ASSET_DIR = os.path.join(os.path.dirname(__file__), 'assets')
DEFAULT_PATH = os.path.join(ASSET_DIR, 'mnist_classifier.msgpack')
PATH_ENV = 'VI_GEN_MNIST_CLASSIFIER'
FEATURE_DIM = 128
REBUILD_COMMAND = 'python -m experiments.mnist_classifier'


class MNISTClassifier(nn.Module):
  """Three conv blocks and a 128-unit feature layer; ~0.3M parameters."""

  @nn.compact
  def __call__(self, x: jax.Array, features: bool = False):
    """Logits ``[B, 10]``; with ``features=True``, ``(logits, features [B, 128])``."""
    for width in (32, 64, 128):
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      x = nn.relu(nn.Conv(width, (3, 3))(x)) if width < 128 else x
      x = nn.max_pool(x, (2, 2), (2, 2))
    h = nn.relu(nn.Dense(FEATURE_DIM)(x.reshape(x.shape[0], -1)))
    logits = nn.Dense(10)(h)
    return (logits, h) if features else logits


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  seed: int = 0
  epochs: int = 5
  batch_size: int = 128
  learning_rate: float = 1e-3


def _to_input(images: np.ndarray) -> np.ndarray:
  return images.astype(np.float32) / 127.5 - 1.0


def train(train_images: np.ndarray, train_labels: np.ndarray,
          config: TrainConfig = TrainConfig()) -> PyTree:
  """Trains the classifier on uint8 images ``[N, 28, 28, 1]``; returns params."""
  model = MNISTClassifier()
  params = model.init(jax.random.PRNGKey(config.seed),
                      jnp.zeros((1, 28, 28, 1)))['params']
  steps_per_epoch = len(train_images) // config.batch_size
  tx = optax.adam(optax.cosine_decay_schedule(
      config.learning_rate, steps_per_epoch * config.epochs))
  opt_state = tx.init(params)

  @xla.jit
  def step(params, opt_state, x, y):
    def loss_fn(p):
      logits = model.apply({'params': p}, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  rng = np.random.default_rng(config.seed)
  inputs = _to_input(train_images)
  for epoch in range(config.epochs):
    start = time.perf_counter()
    order = rng.permutation(len(inputs))
    for i in range(steps_per_epoch):
      idx = order[i * config.batch_size:(i + 1) * config.batch_size]
      params, opt_state, loss = step(params, opt_state, inputs[idx],
                                     train_labels[idx])
    logging.info('classifier epoch %d/%d: last loss %.4f (%.0f s)', epoch + 1,
                 config.epochs, float(loss), time.perf_counter() - start)
  return params


@xla.jit
def _apply(params: PyTree, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Logits and features in one pass."""
  return MNISTClassifier().apply({'params': params}, x, features=True)


def _batched(params: PyTree, x: np.ndarray,
             chunk: int) -> tuple[np.ndarray, np.ndarray]:
  """``(logits, features)`` in fixed-size chunks (the last one padded), so that
  one compiled shape serves every call and memory stays bounded."""
  logits, features = [], []
  report = progress.Progress('evaluation: classifying', len(x), 'images')
  for i in range(0, len(x), chunk):
    report(i)  # a line only if this takes longer than progress.EVERY_SECS
    part = x[i:i + chunk]
    pad = chunk - len(part)
    if pad:
      part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), part.dtype)])
    out_logits, out_features = jax.device_get(_apply(params, part))
    logits.append(out_logits[:chunk - pad])
    features.append(out_features[:chunk - pad])
  return np.concatenate(logits), np.concatenate(features)


@dataclasses.dataclass(frozen=True)
class Classifier:
  """The loaded classifier. ``images`` are float in [−1, 1] or uint8."""
  params: PyTree
  record: dict

  def _prepare(self, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
      images = _to_input(images)
    if images.shape[1:] != (28, 28, 1):
      raise ValueError(f'expected [N, 28, 28, 1] images, got {images.shape}')
    return images.astype(np.float32)

  def logits(self, images: np.ndarray, chunk: int = 1000) -> np.ndarray:
    return _batched(self.params, self._prepare(images), chunk)[0]

  def predict(self, images: np.ndarray, chunk: int = 1000) -> np.ndarray:
    return self.logits(images, chunk).argmax(-1)

  def features(self, images: np.ndarray, chunk: int = 1000) -> np.ndarray:
    return _batched(self.params, self._prepare(images), chunk)[1]

  def channel_outputs(self, images: np.ndarray, chunk: int = 1000
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``[N, C]`` and features ``[N, C·128]`` of each channel separately.

    For stacked MNIST (C = 3) the label triple is the mode; the features of the
    three channels are concatenated.
    """
    images = np.asarray(images)
    n, height, width, channels = images.shape
    per_channel = np.moveaxis(images, -1, 1).reshape(n * channels, height, width, 1)
    logits, feats = _batched(self.params, self._prepare(per_channel), chunk)
    return (logits.argmax(-1).reshape(n, channels),
            feats.reshape(n, channels * FEATURE_DIM))


def accuracy(params: PyTree, images: np.ndarray, labels: np.ndarray) -> float:
  return float(np.mean(Classifier(params, {}).predict(images) == labels))


def _sha256(path: str) -> str:
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def save(params: PyTree, record: dict, path: str = DEFAULT_PATH) -> dict:
  """Writes the weights and ``<path>.json``; returns the record with the hash."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(jax.device_get(params)))
  record = dict(record, sha256=_sha256(path))
  with open(os.path.splitext(path)[0] + '.json', 'w') as f:
    json.dump(record, f, indent=2, sort_keys=True)
    f.write('\n')
  return record


def default_path() -> str:
  return os.environ.get(PATH_ENV) or DEFAULT_PATH


@functools.cache
def load(path: Optional[str] = None) -> Classifier:
  """Loads the cached classifier (``$VI_GEN_MNIST_CLASSIFIER`` or the shipped one).

  Raises:
    FileNotFoundError: with the command that builds the weights.
  """
  path = path or default_path()
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'no MNIST classifier at {path}; build it with `{REBUILD_COMMAND}`')
  template = MNISTClassifier().init(jax.random.PRNGKey(0),
                                    jnp.zeros((1, 28, 28, 1)))['params']
  with open(path, 'rb') as f:
    params = flax.serialization.from_bytes(template, f.read())
  record_path = os.path.splitext(path)[0] + '.json'
  record = {}
  if os.path.exists(record_path):
    with open(record_path) as f:
      record = json.load(f)
  return Classifier(jax.device_put(params), record)
