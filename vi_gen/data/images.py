"""Image datasets through TFDS, scaled to [−1, 1], as training batches and eval arrays.

Every dataset goes through the standard ``tfds.load`` path, so users with internet
access, Colab or a TPU VM need nothing special. Offline, TFDS prepares a dataset
from the original files in its ``manual_dir``: pass ``manual_dir=`` (the
``--manual_dir`` flag) or set ``TFDS_MANUAL_DIR``; for MNIST the four original
``.gz`` files are enough::

    TFDS_MANUAL_DIR=/path/to/mnist python -m experiments.gan --config=configs/gan_mnist_exp1.py

Datasets (``DATASETS``):

* ``mnist``, ``fashion_mnist``: 28×28×1; ``cifar10``: 32×32×3;
* ``celeb_a``: 218×178 photographs, centre-cropped to 108×108 and resized to 64×64
  (as the paper's code does);
* ``stacked_mnist``: three MNIST digits drawn independently as the three channels
  of a 28×28×3 image; the label is the triple ``[3]`` (1,000 modes).

The training pipeline (:func:`train_batches`) is ``tf.data``: small datasets are
held in memory as uint8 and reshuffled every epoch; CelebA is streamed. It yields
``[d_steps, batch, H, W, C]`` float32 arrays, one batch per D update of a stage,
and can skip ahead exactly so that a resumed run sees the data an uninterrupted
run would.
"""

import dataclasses
import os
import socket
from typing import Iterator, Optional

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from vi_gen import filelock

# TensorFlow only reads and decodes data here: keep it off any GPU, so that
# it neither reserves the accelerator's memory nor competes with JAX for it
# (as the Flax examples do). TensorFlow refuses once it has started its
# devices, e.g. when it was used before this module was imported.
try:
  tf.config.set_visible_devices([], 'GPU')
except RuntimeError:
  pass

MANUAL_DIR_ENV = 'TFDS_MANUAL_DIR'

# CelebA: the paper's code crops the central 108×108 of the 218×178 aligned
# images, then resizes to 64×64.
CELEBA_CROP = 108


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  """How one ``--dataset`` maps onto TFDS.

  Attributes:
    name: the ``--dataset`` spelling.
    tfds_name: the TFDS builder it reads.
    image_size: side of the (square) training images.
    channels: channels of the training images.
    in_memory: whether the train split is held in memory (else streamed).
  """
  name: str
  tfds_name: str
  image_size: int
  channels: int
  in_memory: bool = True

  @property
  def shape(self) -> tuple[int, int, int]:
    return (self.image_size, self.image_size, self.channels)


DATASETS = {
    d.name: d for d in (
        ImageDataset('mnist', 'mnist', 28, 1),
        ImageDataset('fashion_mnist', 'fashion_mnist', 28, 1),
        ImageDataset('cifar10', 'cifar10', 32, 3),
        ImageDataset('celeb_a', 'celeb_a', 64, 3, in_memory=False),
        ImageDataset('stacked_mnist', 'mnist', 28, 3),
    )
}


class DataUnavailableError(ValueError):
  """A dataset is neither prepared, nor in the manual directory, nor reachable."""


# Where TFDS downloads each builder's files from, and their names, which TFDS
# also looks for in a manual_dir.
SOURCES = {
    'mnist': ('storage.googleapis.com',
              ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
               't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')),
    'fashion_mnist': ('fashion-mnist.s3-website.eu-central-1.amazonaws.com',
                      ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
                       't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')),
    'cifar10': ('www.cs.toronto.edu', ('cifar-10-binary.tar.gz',)),
    'celeb_a': ('drive.google.com',
                ('img_align_celeba.zip', 'list_eval_partition.txt',
                 'list_attr_celeba.txt', 'list_landmarks_align_celeba.txt')),
}


def _reachable(host: str, timeout: float = 3.0) -> bool:
  try:
    socket.create_connection((host, 443), timeout=timeout).close()
    return True
  except OSError:
    return False


def require(name: str, data_dir: Optional[str] = None,
            manual_dir: Optional[str] = None) -> None:
  """Raises at once, in one line, if ``name`` cannot be had: not prepared in
  ``data_dir``, and neither the files in the manual directory (``manual_dir``
  or ``$TFDS_MANUAL_DIR``) nor its download host reachable.

  A manual directory that is given but lacks the files is reported even when
  the network is up. Under ``tfds.testing.mock_data`` there is nothing to
  check. Nothing is written.

  Raises:
    DataUnavailableError: naming the dataset, what was tried and how to
      provide it.
  """
  info = get_dataset(name)
  if getattr(tfds.core.DatasetBuilder.download_and_prepare, '__name__',
             '') == 'mock_download_and_prepare':
    return
  if data_dir and '://' in data_dir:
    return  # a remote data_dir (gs://) is TFDS's to read
  builder = tfds.builder(info.tfds_name, data_dir=data_dir)
  if builder.is_prepared():
    return
  host, files = SOURCES[info.tfds_name]
  where = f'not prepared in {os.path.dirname(os.path.dirname(builder.data_dir))}'
  manual_dir = manual_dir or os.environ.get(MANUAL_DIR_ENV) or None
  if manual_dir:
    manual_dir = os.path.expanduser(manual_dir)
    missing = [f for f in files if not os.path.isfile(os.path.join(manual_dir, f))]
    if not missing:
      return
    what = ('does not exist' if not os.path.isdir(manual_dir) else
            f'lacks {", ".join(missing)}')
    raise DataUnavailableError(
        f'{name} is {where}, and the manual directory {manual_dir} {what}; put '
        f'the original files ({", ".join(files)}) there, or pass --data_dir '
        f'of a directory where {info.tfds_name} is prepared')
  if not _reachable(host):
    raise DataUnavailableError(
        f'{name} is {where}, no manual directory was given, and its download '
        f'host {host} cannot be reached; put the original files '
        f'({", ".join(files)}) in a directory and pass --manual_dir (or set '
        f'${MANUAL_DIR_ENV}), or pass --data_dir of a directory where '
        f'{info.tfds_name} is prepared')


def get_dataset(name: str) -> ImageDataset:
  if name not in DATASETS:
    raise ValueError(f'unknown image dataset {name!r}; choose one of '
                     f'{", ".join(sorted(DATASETS))}')
  return DATASETS[name]


def tfds_kwargs(data_dir: Optional[str] = None,
                manual_dir: Optional[str] = None) -> dict:
  """Keyword arguments for ``tfds.load``: ``data_dir`` and the manual directory.

  ``manual_dir`` defaults to ``$TFDS_MANUAL_DIR``; when neither is given TFDS
  uses its own defaults (``<data_dir>/downloads/manual``, then the internet).
  """
  manual_dir = manual_dir or os.environ.get(MANUAL_DIR_ENV) or None
  kwargs = {'data_dir': data_dir}
  if manual_dir:
    kwargs['download_and_prepare_kwargs'] = {
        'download_config': tfds.download.DownloadConfig(
            manual_dir=os.path.expanduser(manual_dir))}
  return kwargs


def to_unit_range(images: tf.Tensor) -> tf.Tensor:
  """uint8 [0, 255] → float32 [−1, 1]."""
  return tf.cast(images, tf.float32) / 127.5 - 1.0


def celeb_a_crop(image: tf.Tensor) -> tf.Tensor:
  """Central 108×108 crop of a CelebA image, resized to 64×64, in [−1, 1]."""
  height, width = tf.shape(image)[0], tf.shape(image)[1]
  top = (height - CELEBA_CROP) // 2
  left = (width - CELEBA_CROP) // 2
  image = tf.image.crop_to_bounding_box(image, top, left, CELEBA_CROP,
                                        CELEBA_CROP)
  image = tf.image.resize(tf.cast(image, tf.float32), (64, 64),
                          method='bilinear', antialias=True)
  return tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)


def _load(tfds_name: str, **kwargs):
  """``tfds.load``, one process at a time per dataset in a local ``data_dir``.

  The first load prepares the dataset; two processes preparing it together
  (parallel runs or test workers on a fresh machine) race to rename TFDS's
  ``incomplete.*`` directory into place and one fails. A lock file beside the
  prepared data makes the second wait and then read what the first wrote.
  Remote data_dirs (``gs://``) are loaded without it.
  """
  root = kwargs.get('data_dir') or tfds.core.constants.DATA_DIR
  if '://' in root:
    return tfds.load(tfds_name, **kwargs)
  root = os.path.expanduser(root)
  os.makedirs(root, exist_ok=True)
  with filelock.locked(
      os.path.join(root, f'.{tfds_name.replace("/", "_")}.prepare.lock')):
    return tfds.load(tfds_name, **kwargs)


def load_arrays(name: str, split: str, *, data_dir: Optional[str] = None,
                manual_dir: Optional[str] = None) -> tuple[np.ndarray, np.ndarray]:
  """The whole ``split`` of an in-memory dataset as ``(uint8 images, labels)``.

  For ``stacked_mnist`` this returns the underlying MNIST split (one channel);
  use :func:`stack_digits` to draw triples from it.
  """
  info = get_dataset(name)
  if not info.in_memory:
    raise ValueError(f'{name} is streamed, not loaded whole')
  # Large batches concatenated, rather than batch_size=-1, which also works
  # under tfds.testing.mock_data.
  ds = _load(info.tfds_name, split=split, batch_size=8192,
             **tfds_kwargs(data_dir, manual_dir))
  parts = list(tfds.as_numpy(ds))
  return (np.concatenate([p['image'] for p in parts]),
          np.concatenate([p['label'] for p in parts]))


def stack_digits(images: np.ndarray, labels: np.ndarray, num: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """``num`` stacked-MNIST examples: three independent draws as the channels.

  Args:
    images: ``[N, 28, 28, 1]`` MNIST digits.
    labels: ``[N]`` their labels.
    num: examples to draw.
    rng: the generator that picks the digits.

  Returns:
    ``[num, 28, 28, 3]`` images (same dtype as ``images``) and ``[num, 3]`` labels.
  """
  index = rng.integers(0, len(images), size=(num, 3))
  return (np.concatenate([images[index[:, c]] for c in range(3)], axis=-1),
          labels[index])


def _in_memory_pipeline(info: ImageDataset, seed: int, batch_size: int, data_dir,
                        manual_dir):
  images, labels = load_arrays(info.name, 'train', data_dir=data_dir,
                               manual_dir=manual_dir)
  size = len(images)

  def shuffled(offset):
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    ds = ds.shuffle(size, seed=seed * 4 + offset, reshuffle_each_iteration=True)
    return ds.repeat().batch(batch_size, drop_remainder=True)

  if info.name == 'stacked_mnist':
    # Three independently shuffled streams of MNIST, one per channel.
    ds = tf.data.Dataset.zip(tuple(shuffled(c) for c in range(3)))
    ds = ds.map(lambda *pairs: (tf.concat([p[0] for p in pairs], axis=-1),
                                tf.stack([p[1] for p in pairs], axis=-1)))
  else:
    ds = shuffled(0)
  return ds.map(lambda image, label: {'image': image, 'label': label})


def _streamed_pipeline(info: ImageDataset, seed: int, batch_size: int, data_dir,
                       manual_dir):
  read_config = tfds.ReadConfig(shuffle_seed=seed)
  ds = _load(info.tfds_name, split='train', shuffle_files=True,
             read_config=read_config, **tfds_kwargs(data_dir, manual_dir))
  ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True).repeat()
  ds = ds.map(lambda ex: {'image': ex['image'], 'label': tf.zeros((), tf.int64)})
  return ds.batch(batch_size, drop_remainder=True)


def train_dataset(name: str, *, batch_size: int, d_steps: int = 1, seed: int = 0,
                  data_dir: Optional[str] = None,
                  manual_dir: Optional[str] = None,
                  skip_stages: int = 0,
                  process_slice: Optional[slice] = None) -> tf.data.Dataset:
  """The training stream: ``{'image': [d_steps, B, H, W, C] float32 in [−1, 1], 'label'}``.

  Args:
    name: a key of :data:`DATASETS`.
    batch_size: examples per D update.
    d_steps: D updates per stage (the leading axis).
    seed: shuffling seed.
    data_dir, manual_dir: see :func:`tfds_kwargs`.
    skip_stages: stages already trained (resume): that many elements are skipped.
    process_slice: in a multi-host run, the examples of each global batch that
      this process feeds (:func:`vi_gen.parallel.local_batch_slice`). Every
      process draws the same global batches, so the data do not depend on the
      number of processes; ``B`` is then the slice's length.
  """
  info = get_dataset(name)
  make = _in_memory_pipeline if info.in_memory else _streamed_pipeline
  ds = make(info, seed, batch_size, data_dir, manual_dir)
  ds = ds.batch(d_steps, drop_remainder=True)
  if skip_stages:
    ds = ds.skip(skip_stages)  # uint8 batches: cheap to skip for in-memory data
  preprocess = celeb_a_crop if info.name == 'celeb_a' else to_unit_range
  local = process_slice or slice(0, batch_size)
  local_size = len(range(batch_size)[local])

  def to_float(batch):
    images, labels = batch['image'][:, local], batch['label'][:, local]
    flat = tf.reshape(images, tf.concat([[-1], tf.shape(images)[2:]], 0))
    flat = (tf.map_fn(preprocess, flat, fn_output_signature=tf.float32)
            if info.name == 'celeb_a' else preprocess(flat))
    return {'image': tf.reshape(flat, [d_steps, local_size, *info.shape]),
            'label': labels}

  return ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def train_batches(name: str, **kwargs) -> Iterator[dict[str, np.ndarray]]:
  """:func:`train_dataset` as an iterator of NumPy arrays."""
  return iter(tfds.as_numpy(train_dataset(name, **kwargs)))
