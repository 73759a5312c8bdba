"""``--distributed``: multi-host start-up, shared by every experiment.

On one machine nothing is needed: the experiments use every local device (one
CPU, a GPU, or the 8 cores of a TPU VM) through one data-parallel mesh. For a
TPU pod slice or a GPU cluster, start the same command on every host with
``--distributed``; JAX then connects the processes before any device is touched
and the mesh spans all hosts' devices.
"""

from absl import flags

from vi_gen import parallel
from vi_gen.training.config import ConfigError

_DISTRIBUTED = flags.DEFINE_boolean(
    'distributed', False,
    'Multi-host run: call jax.distributed.initialize() first. On Cloud TPU, '
    'SLURM, Open MPI and Kubernetes the cluster is detected; elsewhere also give '
    '--coordinator_address, --num_processes and --process_id.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0 (with --distributed).')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'Number of processes (with --distributed).')
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', None, 'This process\'s index (with --distributed).')


def maybe_initialize() -> None:
  """Initialises multi-host JAX if ``--distributed`` was given.

  Raises:
    ConfigError: if JAX cannot start the processes (no cluster detected and no
      coordinator given, or the coordinator does not answer).
  """
  if not _DISTRIBUTED.value:
    return
  try:
    parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value,
                                    _PROCESS_ID.value)
  except (ValueError, RuntimeError) as e:
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    raise ConfigError(
        f'--distributed: JAX could not start the processes ({reason}); on '
        f'Cloud TPU, SLURM, Open MPI and Kubernetes the cluster is detected, '
        f'elsewhere give --coordinator_address, --num_processes and '
        f'--process_id') from None
