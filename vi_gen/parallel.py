"""Data parallelism on a ``jax.sharding.Mesh``: one code path for 1 device or a pod.

Every training loop in vi_gen runs its jitted steps inside ``jax.set_mesh(mesh)``
over a one-axis mesh of all devices (:func:`make_mesh`). The state (parameters,
the anchor G°, optimiser and BatchNorm statistics) is replicated; batches are
split along their batch axis over the ``'data'`` axis. Inside a step,
:func:`constrain_batch` marks arrays made on device (latent draws, sampled data)
as batch-sharded too, so that no device computes another's examples.

The partitioner (GSPMD) inserts the collectives: gradients, losses and
BatchNorm's batch statistics are reduced over the whole global batch. A step on
N devices therefore computes what it computes on one device for the same global
batch, up to the order of floating-point sums; ``tests/multidevice`` checks that
on 8 fake CPU devices. Random draws use partitionable Threefry (JAX's default),
so they too do not depend on the number of devices.

Multi-host: call :func:`initialize_distributed` first (``--distributed`` in the
experiments); each process then feeds its slice of the global batch
(:func:`local_batch_slice`) and :func:`shard_batch` assembles the global array.
"""

from typing import Any, Optional, Sequence

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P
import numpy as np

DATA_AXIS = 'data'


class BatchSizeError(ValueError):
  """A batch that cannot be split evenly over the mesh's devices."""


def make_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A one-axis (``'data'``) mesh over ``devices`` (default: every device).

  The axis is ``Auto``: shardings inside a step are chosen by the partitioner
  from the inputs' shardings and :func:`constrain_batch`'s hints.
  """
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def check_batch_size(batch_size: int, mesh: Mesh, what: str = 'batch_size') -> None:
  """Raises :class:`BatchSizeError` unless ``batch_size`` splits evenly over ``mesh``."""
  devices = mesh.shape[DATA_AXIS]
  if batch_size % devices:
    lower = batch_size - batch_size % devices
    raise BatchSizeError(
        f'{what}={batch_size} does not divide evenly over the {devices} devices '
        f'of the data-parallel mesh; use a multiple of {devices} '
        f'(e.g. {lower or devices} or {lower + devices})')


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
  """Split along ``batch_axis`` over the ``'data'`` axis, replicated otherwise."""
  return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places every array of ``tree`` on all of ``mesh``'s devices."""
  return jax.device_put(tree, replicated(mesh))


def shard_batch(local: Any, mesh: Mesh, batch_axis: int = 0) -> Any:
  """Host arrays (this process's slice of the global batch) → global arrays.

  On one process the slice is the whole batch and this is a ``device_put``;
  on several, each process passes its own slice (:func:`local_batch_slice`).
  """
  sharding = batch_sharding(mesh, batch_axis)
  if jax.process_count() == 1:
    return jax.device_put(local, sharding)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, x), local)


def local_batch_slice(global_batch: int) -> slice:
  """The examples of a global batch that this process feeds."""
  count, index = jax.process_count(), jax.process_index()
  if global_batch % count:
    raise BatchSizeError(f'batch_size={global_batch} does not divide evenly over '
                         f'{count} processes')
  size = global_batch // count
  return slice(index * size, (index + 1) * size)


def constrain_batch(x: jax.Array, batch_axis: int = 0) -> jax.Array:
  """Inside a traced step: ``x`` split along ``batch_axis`` over the current mesh.

  A no-op outside ``jax.set_mesh`` (plain single-device use, e.g. in unit tests)
  and where the axis does not divide evenly (e.g. an evaluation chunk).
  """
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty or DATA_AXIS not in mesh.axis_names:
    return x
  if x.shape[batch_axis] % mesh.shape[DATA_AXIS]:
    return x
  return jax.lax.with_sharding_constraint(x, P(*([None] * batch_axis), DATA_AXIS))


def initialize_distributed(coordinator_address: Optional[str] = None,
                           num_processes: Optional[int] = None,
                           process_id: Optional[int] = None) -> None:
  """``jax.distributed.initialize`` for multi-host runs (TPU pods, GPU clusters).

  With no arguments JAX detects the cluster (Cloud TPU, SLURM, Open MPI,
  Kubernetes); elsewhere pass the coordinator's ``host:port``, the number of
  processes and this process's id. Must run before anything touches a device.
  """
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)
