"""Orbax checkpoints of a training state, and the workdir's config record.

A workdir holds ``config.json`` (the configuration that made it) beside
``checkpoints/``. A run that finds a checkpoint resumes from it, but only if its
configuration agrees with the recorded one on every field that changes what is
trained (see :func:`check_compatible`).

Damage is handled, not fatal: a checkpoint that no longer restores (a file
deleted or truncated) is moved to ``damaged_checkpoints/`` with a warning and
the newest intact one is used (:meth:`Checkpointer.restore_newest_intact`);
``config.json`` is written whole or not at all, and a damaged or missing one
is a one-line error rather than a guess.
"""

import contextlib
import dataclasses
import json
import logging as std_logging
import os
import sys
import warnings
from typing import Any, Iterable, Optional

from absl import logging
import flax
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp


class IncompatibleCheckpointError(ValueError):
  """A workdir's checkpoint was made by a different configuration, or its
  ``config.json`` is damaged or missing."""


class DamagedCheckpointError(ValueError):
  """No checkpoint of a workdir can be restored."""


# Where checkpoints that no longer restore are moved, beside checkpoints/.
DAMAGED_DIR = 'damaged_checkpoints'


def non_finite(tree: Any) -> list[str]:
  """The paths (``g_params/Dense_0/kernel``) of ``tree``'s floating-point
  leaves that hold a NaN or an infinity."""
  leaves = [(jax.tree_util.keystr(path, simple=True, separator='/'), x)
            for path, x in jax.tree_util.tree_leaves_with_path(
                flax.serialization.to_state_dict(tree))
            if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
  finite = jax.device_get([jnp.all(jnp.isfinite(x)) for _, x in leaves])
  return [path for (path, _), ok in zip(leaves, finite) if not ok]


class _OrbaxReports:
  """Holds back the reports a failing save or restore makes besides its
  exception.

  When a write fails (a full disk) or a read does (a damaged file), Orbax's
  threads log warnings and tracebacks, asyncio logs its unretrieved tasks,
  and TensorStore's callbacks report "Event loop is closed" through
  ``sys.unraisablehook``, during the operation and after it. While one is in
  progress these are held; if it succeeds they are reported as usual, if it
  fails they are dropped, and so is everything of the kind until
  :meth:`close` — after a failed save, for the rest of the process, whose
  unfinished tasks report again as it exits — because the failure itself is
  raised (or, for a restore, reported) with its cause.
  """

  def __init__(self):
    self.failed, self.held, self.terminal = False, None, False
    self._loggers = [std_logging.getLogger('absl'),
                     std_logging.getLogger('asyncio')]
    for logger in self._loggers:
      logger.addFilter(self._filter)
    self._unraisablehook = sys.unraisablehook
    sys.unraisablehook = self._hook

  def _keep(self, report) -> bool:
    if self.failed:
      return False
    if self.held is not None:
      self.held.append(report)
      return False
    return True

  def _filter(self, record: std_logging.LogRecord) -> bool:
    if not ((record.levelno >= std_logging.WARNING and '/orbax/' in record.pathname)
            or (record.levelno >= std_logging.ERROR and record.name == 'asyncio')):
      return True
    return self._keep(record)

  def _hook(self, unraisable) -> None:
    if (unraisable.exc_type is not RuntimeError
        or str(unraisable.exc_value) != 'Event loop is closed'
        or self._keep(unraisable)):
      self._unraisablehook(unraisable)

  @contextlib.contextmanager
  def attempt(self, terminal: bool = False):
    """Holds the reports of one save or restore; ``terminal``: its failure
    ends the process (a save), so they are dropped after :meth:`close` too."""
    self.held = []
    try:
      yield
    except BaseException:
      self.failed = True
      self.terminal |= terminal
      raise
    finally:
      held, self.held = self.held, None
      for report in held if not self.failed else ():
        if isinstance(report, std_logging.LogRecord):
          std_logging.getLogger(report.name).handle(report)
        else:
          self._unraisablehook(report)

  def close(self) -> None:
    if self.terminal:
      # The failure ends the process; Orbax's unfinished tasks are collected
      # as it exits, after this, and would report again (an unretrieved task,
      # a coroutine never awaited) below the one-line report. Keep holding
      # them back.
      warnings.filterwarnings('ignore', message=r"coroutine '.*' was never awaited",
                              category=RuntimeWarning)
      return
    for logger in self._loggers:
      logger.removeFilter(self._filter)
    if sys.unraisablehook is self._hook:
      sys.unraisablehook = self._unraisablehook


def first_line(error: BaseException) -> str:
  """``Type: the message's first line``, for one-line reports."""
  if 'No space left on device' in str(error):
    return 'no space left on device'
  text = str(error).strip().splitlines()
  return f'{type(error).__name__}: {text[0] if text else ""}'[:300]


# State fields renamed since checkpoints were first written: {new: old}. A
# checkpoint that holds the old name restores into the new one.
RENAMED_FIELDS = {'g_anchor_params': 'anchor_params'}


class Checkpointer:
  """Saves and restores a Flax struct state under ``workdir/checkpoints``.

  Orbax writes each step to a temporary directory and renames it when complete,
  so an interrupted or failed run leaves the previous checkpoint intact.
  """

  def __init__(self, workdir: str, max_to_keep: int = 2):
    self.workdir = os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, 'checkpoints')
    self._reports = _OrbaxReports()
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_handlers=ocp.StandardCheckpointHandler())

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, step: int, state: Any) -> None:
    """Saves ``state`` as ``step`` and waits until it is on disk.

    If the save fails (a full disk), the exception says so; the tracebacks
    Orbax's threads would print besides are dropped (:class:`_OrbaxReports`).
    """
    with self._reports.attempt(terminal=True):
      self._manager.save(step, args=ocp.args.StandardSave(
          flax.serialization.to_state_dict(state)))
      self._manager.wait_until_finished()

  def restore(self, template: Any, step: Optional[int] = None) -> Any:
    """Restores into the structure of ``template`` (latest step by default).

    A top-level field that the checkpoint lacks and that is empty in
    ``template`` (one added to the state since, unused by this run, such as
    ALI's anchor without its term) keeps the template's empty value; one
    saved under its old name (:data:`RENAMED_FIELDS`) is read from there.
    """
    step = self.latest_step() if step is None else step
    target = flax.serialization.to_state_dict(template)
    on_disk = self._manager.item_metadata(step)
    renamed = {new: old for new, old in RENAMED_FIELDS.items()
               if new in target and new not in on_disk and old in on_disk}
    target = {renamed.get(k, k): v for k, v in target.items()}
    added = {k: v for k, v in target.items()
             if k not in on_disk and not jax.tree.leaves(v)}
    target = {k: v for k, v in target.items() if k not in added}
    restored = self._manager.restore(step, args=ocp.args.StandardRestore(target))
    restored = {new: restored.pop(old) for new, old in renamed.items()} | restored
    return flax.serialization.from_state_dict(template, {**restored, **added})

  def restore_newest_intact(self, template: Any) -> tuple[Any, Optional[int]]:
    """``(state, step)`` of the newest checkpoint that restores into
    ``template``'s structure; ``(template, None)`` if there is none.

    A newer checkpoint that fails to restore (files deleted, truncated or
    garbled) is moved to ``WORKDIR/damaged_checkpoints/STEP`` with a warning
    that names it, so that the run can save that step again.

    Raises:
      DamagedCheckpointError: if checkpoints exist and none restores.
    """
    failed = []
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        with self._reports.attempt():
          state = self.restore(template, step)
      except Exception as e:  # pylint: disable=broad-except
        # Orbax reports a damaged step as a ValueError, TypeError, OSError, …
        failed.append((step, e))
        continue
      for bad_step, error in failed:
        self._set_aside(bad_step, error, step)
      return state, step
    if failed:
      step, error = failed[0]
      raise DamagedCheckpointError(
          f'no checkpoint in {self.directory} restores (step {step}: '
          f'{first_line(error)}); move that directory aside to start afresh, or '
          f'use another --workdir')
    return template, None

  def _set_aside(self, step: int, error: BaseException, newest_intact: int) -> None:
    source = os.path.join(self.directory, str(step))
    target = os.path.join(self.workdir, DAMAGED_DIR, str(step))
    if jax.process_index() == 0 and os.path.isdir(source):
      os.makedirs(os.path.dirname(target), exist_ok=True)
      suffix = 0
      while os.path.exists(target + (f'.{suffix}' if suffix else '')):
        suffix += 1
      target += f'.{suffix}' if suffix else ''
      os.replace(source, target)
      self._manager.reload()
    logging.warning(
        'the checkpoint at step %d does not restore (%s); resuming from step %d '
        'instead. It was moved to %s: delete it when you no longer need it.',
        step, first_line(error), newest_intact, target)

  def close(self) -> None:
    """Closes the manager; after a failed save, its errors again are dropped
    (the failure was raised by :meth:`save`)."""
    try:
      self._manager.close()
    except Exception:  # pylint: disable=broad-except
      if not self._reports.failed:
        raise
    finally:
      self._reports.close()


def config_path(workdir: str) -> str:
  return os.path.join(workdir, 'config.json')


def resumable(fields: Iterable[str], *, steps_scheduled: bool) -> tuple[str, ...]:
  """``fields``, less ``steps`` where a learning-rate schedule is laid over them.

  A schedule stretched over ``steps`` would change mid-run if they changed.
  """
  return tuple(f for f in fields if not (steps_scheduled and f == 'steps'))


def check_compatible(config: Any, workdir: str,
                     mutable_fields: Iterable[str]) -> None:
  """Raises if ``workdir`` was made by a config that differs outside ``mutable_fields``.

  Args:
    config: a dataclass instance.
    workdir: the run directory.
    mutable_fields: fields that may change between a run and its resumption
      (e.g. the number of steps, evaluation and checkpoint intervals).
  """
  path = config_path(workdir)
  if not os.path.exists(path):
    if steps := checkpoint_steps(workdir):
      raise IncompatibleCheckpointError(
          f'workdir {workdir} holds checkpoints (steps '
          f'{", ".join(map(str, steps))}) but no config.json, so what made them '
          f'is unknown; re-run with --adopt to resume them under this '
          f'configuration, or use another --workdir')
    return
  try:
    with open(path) as f:
      recorded = json.load(f)
    if not isinstance(recorded, dict):
      raise ValueError('not a JSON object')
  except (ValueError, UnicodeDecodeError) as e:
    raise IncompatibleCheckpointError(
        f'{path} is damaged ({first_line(e)}); restore it from a copy, or use '
        f'another --workdir') from None
  current = dataclasses.asdict(config)
  # A field added since the run was recorded counts at its default, which keeps
  # the behaviour from before it existed (e.g. `model='gan'`).
  for field in dataclasses.fields(config):
    if field.name not in recorded and field.default is not dataclasses.MISSING:
      recorded[field.name] = field.default
  mutable = set(mutable_fields)
  diffs = [f'{k}={recorded.get(k)!r} (now {current.get(k)!r})'
           for k in sorted(set(recorded) | set(current))
           if k not in mutable and recorded.get(k) != current.get(k)]
  if diffs:
    raise IncompatibleCheckpointError(
        f'workdir {workdir} was made by a different configuration: '
        f'{", ".join(diffs)}; use another --workdir or the recorded flags')


def checkpoint_steps(workdir: str) -> list[int]:
  """The steps of ``workdir``'s checkpoints, from the directory names alone."""
  directory = os.path.join(workdir, 'checkpoints')
  names = os.listdir(directory) if os.path.isdir(directory) else []
  return sorted(int(name) for name in names if name.isdigit())


def write_json(path: str, value: Any) -> None:
  """Writes ``value`` as strict JSON to ``path``, whole or not at all: a crash
  or a full disk mid-write leaves the previous file."""
  text = json.dumps(value, indent=2, sort_keys=True, allow_nan=False)
  partial = f'{path}.partial'
  try:
    with open(partial, 'w') as f:
      f.write(text + '\n')
    os.replace(partial, path)
  finally:
    if os.path.exists(partial):
      os.remove(partial)


def write_config(config: Any, workdir: str) -> None:
  write_json(config_path(workdir), dataclasses.asdict(config))
