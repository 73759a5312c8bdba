"""The one training loop every experiment shares: resume, train, score, record.

:func:`run` takes a configuration, a workdir, an initial state and a *task*:
what feeds data and steps (``advance``) and what scores (``evaluate``). It does
the rest the same way for the GAN, the AAE, ALI and the VAE:

* refuses, before any computation, a workdir it cannot write or whose
  ``config.json`` records another configuration (:func:`prepare`);
* holds the workdir's lock while it runs: a second run on the same workdir
  is refused with one line naming the process that holds it;
* restores the newest checkpoint that restores (a damaged newer one is moved
  to ``damaged_checkpoints/`` with a warning) and drops ``metrics.jsonl``
  records written after it, and a partial last line, so a resumed run ends
  with the records an uninterrupted one has;
* trains to each evaluation or checkpoint boundary, stops on a non-finite
  loss naming the step (the last good checkpoint stays intact), averages the
  training metrics since the previous evaluation, and appends one record per
  evaluation to ``metrics.jsonl`` and TensorBoard, with the rate and the
  evaluation's seconds;
* never saves a state with a NaN or an infinity: it stops naming the step
  and the parameter instead;
* on SIGTERM or Ctrl-C, saves a checkpoint at the end of the chunk it is
  training (a hundredth of an evaluation interval) and stops with
  :class:`Interrupted`;
* with several processes, every process trains and checkpoints (Orbax
  coordinates them) and process 0 alone writes the config, records, pictures
  and summaries.
"""

import contextlib
import dataclasses
import errno
import os
import signal
import threading
import time
from typing import Callable, Optional, Protocol

from absl import logging
from flax.metrics import tensorboard
import jax

from vi_gen import checkpoint
from vi_gen import filelock
from vi_gen import parallel
from vi_gen import progress as progress_lib
from vi_gen import records
from vi_gen.training.config import ConfigError, describe
from vi_gen.training.validation import check_writable


class NonFiniteLossError(FloatingPointError):
  """Training produced a NaN or infinite loss."""


class Task(Protocol):
  """What :func:`run` needs of an experiment.

  ``advance(state, num)`` trains ``num`` steps (fewer if a loss stops being
  finite) and returns the state and a host dict: ``step`` (the state's),
  ``count`` (steps run), ``metrics`` (their means) and ``bad_step`` (the first
  non-finite step, 0 if none). ``evaluate(state, step, workdir, writer)``
  returns the scores and writes pictures to ``workdir`` unless it is None.
  ``describe(record)`` is the progress line's body. A task with a ``close()``
  has it called when the run ends.
  """
  unit: str  # 'stage' or 'step'

  def start(self, state) -> None: ...

  def advance(self, state, num: int): ...

  def evaluate(self, state, step: int, workdir: Optional[str], writer) -> dict: ...

  def describe(self, record: dict) -> str: ...


class NullWriter:
  """The summary writer of processes other than 0: writes nothing."""

  def scalar(self, *args, **kwargs):
    pass

  image = text = hparams = flush = close = scalar


def write_scalars(writer, record: dict, scores) -> None:
  """Writes ``record``'s numbers at its step, grouped for TensorBoard:
  ``eval/`` for the names in ``scores``, ``time/`` for rates and seconds,
  ``train/`` for the training metrics."""
  for name, value in record.items():
    if name == 'step' or isinstance(value, bool) or not isinstance(
        value, (int, float)):
      continue
    group = ('eval' if name in scores else
             'time' if name.endswith(('_per_sec', '_seconds')) else 'train')
    writer.scalar(f'{group}/{name}', value, record['step'])
  writer.flush()


def write_config(writer, config) -> None:
  """The configuration as TensorBoard text (grouped as --dry_run shows it) and
  hparams (to compare runs)."""
  writer.text('config', '```\n' + describe(config) + '\n```', 0)
  writer.hparams(dataclasses.asdict(config))


def prepare(config, workdir: str, mesh, batch_sizes: dict[str, int]) -> None:
  """The checks every run makes before computing anything.

  Raises:
    ConfigError: if a batch does not split over ``mesh``, ``workdir`` is not
      writable, or it holds a run of another configuration (fields outside
      ``config.resumable_fields()`` differ).
  """
  try:
    for name, size in batch_sizes.items():
      parallel.check_batch_size(size, mesh, name)
  except parallel.BatchSizeError as e:
    raise ConfigError(str(e)) from None
  check_writable(workdir)
  try:
    checkpoint.check_compatible(config, workdir, config.resumable_fields())
  except checkpoint.IncompatibleCheckpointError as e:
    raise ConfigError(str(e)) from None


def _next_boundary(step: int, config) -> int:
  def next_multiple(every):
    return (step // every + 1) * every
  return min(next_multiple(config.eval_every),
             next_multiple(config.checkpoint_every), config.steps)


class Interrupted(KeyboardInterrupt):
  """SIGTERM or SIGINT stopped the run, after a checkpoint was saved.

  ``exit_status`` is the shell's for that signal (128 + its number).
  """

  def __init__(self, message: str, signal_name: str):
    super().__init__(message)
    self.exit_status = 128 + signal.Signals[signal_name].value


class OutputError(RuntimeError):
  """A write to the workdir failed (a full disk, a lost mount); what was
  saved before it is intact."""


class WorkdirBusyError(ConfigError):
  """Another live process is running in the workdir."""


LOCK_FILE = '.lock'

# The errors of a write that the workdir cannot take: no space, no quota,
# a file too large, a read-only file system.
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


@contextlib.contextmanager
def _stop_requests(unit: str):
  """Yields a list to which SIGTERM or SIGINT (Ctrl-C) add their name.

  The loop saves and stops at its next chunk boundary when the list is not
  empty. The first signal restores the previous handlers, so a second one
  acts at once (SIGINT: KeyboardInterrupt; SIGTERM: exit) without saving.
  Outside the main thread, where Python takes no handlers, it yields a list
  that stays empty.
  """
  requests = []
  if threading.current_thread() is not threading.main_thread():
    yield requests
    return
  previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

  def request(signum, frame):
    del frame
    requests.append(signal.Signals(signum).name)
    for s, handler in previous.items():
      signal.signal(s, handler)
    logging.warning('%s: saving a checkpoint at the next %s boundary, then '
                    'stopping; send it again to stop at once without saving.',
                    requests[-1], unit)

  for s in previous:
    signal.signal(s, request)
  try:
    yield requests
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


def workdir_lock(workdir: str, lead: bool):
  """The workdir's one-writer lock (process 0's; see :mod:`vi_gen.filelock`)."""
  if not lead:
    return contextlib.nullcontext()
  path = os.path.join(workdir, LOCK_FILE)

  @contextlib.contextmanager
  def held():
    try:
      with filelock.exclusive(path):
        yield
    except filelock.BusyError as e:
      raise WorkdirBusyError(
          f'workdir {workdir} is in use by {e}; wait for it to end, stop it, or '
          f'use another --workdir') from None
  return held()


def run(config, workdir: str, state, make_task: Callable[[], Task], *,
        mesh) -> Optional[dict]:
  """Trains (or resumes) the run in ``workdir``; returns its last record.

  ``config`` has ``steps``, ``eval_every`` and ``checkpoint_every``;
  :func:`prepare` has been called. ``state`` is the initial state (a resume
  restores into its structure); ``make_task()`` is called only when there is
  training left to do.

  Raises:
    WorkdirBusyError: if another process is running in ``workdir``.
    ConfigError: if ``workdir``'s checkpoints or records are damaged beyond
      what a resume can repair.
    NonFiniteLossError: if a loss, or the state about to be saved, is NaN or
      infinite; nothing non-finite is saved.
    Interrupted: after SIGTERM or SIGINT, once a checkpoint is saved.
  """
  lead = jax.process_index() == 0
  with workdir_lock(workdir, lead):
    return _run(config, workdir, state, make_task, mesh=mesh, lead=lead)


def _run(config, workdir, state, make_task, *, mesh, lead):
  if lead:
    checkpoint.write_config(config, workdir)
  metrics_path = f'{workdir}/metrics.jsonl'
  state = parallel.replicate(state, mesh)
  ckpt = checkpoint.Checkpointer(workdir)
  try:
    state, restored_step = ckpt.restore_newest_intact(state)
  except checkpoint.DamagedCheckpointError as e:
    ckpt.close()
    raise ConfigError(str(e)) from None
  if restored_step is not None:
    logging.info('resumed from the checkpoint at step %d in %s', restored_step,
                 workdir)
  if lead:
    try:
      if partial := records.truncate_metrics(metrics_path, restored_step or 0):
        logging.warning('dropped a partial last line of %s (a run stopped while '
                        'writing it): %r', metrics_path, partial[:60])
    except records.DamagedRecordsError as e:
      ckpt.close()
      raise ConfigError(str(e)) from None
  step = int(state.step)
  if step >= config.steps:
    ckpt.close()
    logging.info('%s is already at step %d of %d; nothing to train.', workdir,
                 step, config.steps)
    return records.last_record(metrics_path)

  def last_good() -> str:
    if (saved := ckpt.latest_step()) is None:
      return f'No checkpoint was saved in {workdir}.'
    return f'The last good checkpoint (step {saved}) in {workdir} is intact.'

  def save(step: int) -> None:
    checked = getattr(task, 'checked_state', lambda s: s)(state)
    if bad := checkpoint.non_finite(checked):
      more = f' and {len(bad) - 1} more' if len(bad) > 1 else ''
      raise NonFiniteLossError(
          f'non-finite values in {bad[0]}{more} at {task.unit} {step}; stopped '
          f'without saving them. {last_good()}')
    try:
      ckpt.save(step, state)
    except Exception as e:  # pylint: disable=broad-except
      # Orbax reports a full disk as an OSError or a RESOURCE_EXHAUSTED error.
      raise OutputError(
          f'could not save the checkpoint at {task.unit} {step} '
          f'({checkpoint.first_line(e)}). {last_good()} Free space and run '
          f'the same command again to resume.') from None

  task = make_task()
  task.start(state)
  writer = tensorboard.SummaryWriter(workdir) if lead else NullWriter()
  if restored_step is None:
    write_config(writer, config)
  last = None
  # Training metrics are averaged on the host since the last evaluation; after a
  # resume mid-interval that average covers only the steps run since the resume.
  sums, count, interval_start = {}, 0, time.perf_counter()
  # Between boundaries, training runs in chunks of a hundredth of an
  # evaluation interval, so that the progress line can come about every
  # EVERY_SECS and a stop request is answered within a chunk. Chunks end at
  # multiples of their size: a resumed run cuts them where an uninterrupted
  # one does.
  progress = progress_lib.Progress(task.unit, config.steps, f'{task.unit}s',
                                   start=step)
  chunk = progress_lib.chunk(config.eval_every,
                             getattr(config, 'steps_per_call', 1))
  try:
    with jax.set_mesh(mesh), _stop_requests(task.unit) as stop_requests:
      while step < config.steps:
        num = min(_next_boundary(step, config), (step // chunk + 1) * chunk) - step
        state, result = task.advance(state, num)
        if result['bad_step'] != 0:
          raise NonFiniteLossError(
              f'non-finite loss at {task.unit} {result["bad_step"]}; stopped. '
              f'{last_good()}')
        step, done = int(result['step']), int(result['count'])
        for k, v in result['metrics'].items():
          sums[k] = sums.get(k, 0.0) + float(v) * done
        count += done
        if step % config.eval_every and step != config.steps:
          progress(step)  # between evaluations; an evaluation logs its own
        else:
          elapsed = time.perf_counter() - interval_start
          eval_start = time.perf_counter()
          scores = task.evaluate(state, step, workdir if lead else None, writer)
          if clash := set(scores) & set(sums):  # would overwrite a score
            raise ValueError(f'training metrics reuse score names {sorted(clash)}')
          record = {'step': step, **scores,
                    **{k: v / count for k, v in sorted(sums.items())},
                    f'{task.unit}s_per_sec': count / elapsed,
                    'eval_seconds': time.perf_counter() - eval_start}
          if lead:
            records.append(metrics_path, record)
          write_scalars(writer, record, scores)
          progress(step, force=True, suffix=f'  {task.describe(record)}')
          last = records.rounded(record)  # as metrics.jsonl holds it
          sums, count, interval_start = {}, 0, time.perf_counter()
        boundary = step % config.checkpoint_every == 0 or step == config.steps
        if boundary or stop_requests:
          save(step)
        if stop_requests and step < config.steps:
          raise Interrupted(
              f'stopped by {stop_requests[0]} at {task.unit} {step} of '
              f'{config.steps}, with a checkpoint saved there; run the same '
              f'command again to resume', stop_requests[0])
  except OSError as e:  # writing the records, pictures or summaries
    if e.errno not in _FULL:
      raise
    raise OutputError(
        f'could not write to {workdir} at {task.unit} {step} '
        f'({checkpoint.first_line(e)}). {last_good()} Free space and run the '
        f'same command again to resume.') from None
  finally:
    writer.close()
    ckpt.close()
    if hasattr(task, 'close'):
      task.close()
  return last
