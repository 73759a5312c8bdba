"""Orbax checkpoints of a training state, and the workdir's config record.

A workdir holds ``config.json`` (the configuration that made it) beside
``checkpoints/``. A run that finds a checkpoint resumes from it, but only if its
configuration agrees with the recorded one on every field that changes what is
trained (see :func:`check_compatible`).
"""

import dataclasses
import json
import os
from typing import Any, Iterable, Optional

import flax
import jax
import orbax.checkpoint as ocp


class IncompatibleCheckpointError(ValueError):
  """A workdir's checkpoint was made by a different configuration."""


# State fields renamed since checkpoints were first written: {new: old}. A
# checkpoint that holds the old name restores into the new one.
RENAMED_FIELDS = {'g_anchor_params': 'anchor_params'}


class Checkpointer:
  """Saves and restores a Flax struct state under ``workdir/checkpoints``.

  Orbax writes each step to a temporary directory and renames it when complete,
  so an interrupted or failed run leaves the previous checkpoint intact.
  """

  def __init__(self, workdir: str, max_to_keep: int = 2):
    self._manager = ocp.CheckpointManager(
        os.path.join(os.path.abspath(workdir), 'checkpoints'),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_handlers=ocp.StandardCheckpointHandler())

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, step: int, state: Any) -> None:
    self._manager.save(
        step, args=ocp.args.StandardSave(flax.serialization.to_state_dict(state)))
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

  def close(self) -> None:
    self._manager.close()


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
    return
  with open(path) as f:
    recorded = json.load(f)
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


def write_config(config: Any, workdir: str) -> None:
  with open(config_path(workdir), 'w') as f:
    json.dump(dataclasses.asdict(config), f, indent=2, sort_keys=True)
