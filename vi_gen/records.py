"""A run's ``metrics.jsonl``: one JSON object per evaluation, appended in order."""

import json
import os
from typing import Optional


def read_metrics(path: str) -> list[dict]:
  """The records of a workdir's ``metrics.jsonl``, in the order they were written."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def last_record(path: str) -> Optional[dict]:
  """The last record of ``path``, or None if it has none."""
  if not os.path.exists(path):
    return None
  records = read_metrics(path)
  return records[-1] if records else None


def rounded(value):
  """``value`` with every float to 7 significant digits, float32's precision:
  a score computed in float32 reads 1.96, not 1.9600000381469727."""
  if isinstance(value, float):
    return float(f'{value:.7g}')
  if isinstance(value, dict):
    return {k: rounded(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [rounded(v) for v in value]
  return value


def append(path: str, record: dict) -> None:
  """Appends ``record`` as one line, its floats :func:`rounded`."""
  with open(path, 'a') as f:
    f.write(json.dumps(rounded(record)) + '\n')


class DamagedRecordsError(ValueError):
  """A line of ``metrics.jsonl`` before its last is not a record."""


def _step(line: str) -> Optional[int]:
  """The record's step, or None if ``line`` is not a whole record."""
  try:
    record = json.loads(line)
  except ValueError:
    return None
  step = record.get('step') if isinstance(record, dict) else None
  return step if isinstance(step, int) else None


def truncate_metrics(path: str, last_step: int) -> Optional[str]:
  """Drops records written after ``last_step`` (by a run that did not
  checkpoint), and a partial last line (a crash or a full disk mid-append).

  Returns:
    The partial line dropped, or None.

  Raises:
    DamagedRecordsError: if a line before the last is not a record.
  """
  if not os.path.exists(path):
    return None
  with open(path) as f:
    lines = [line if line.endswith('\n') else line + '\n'
             for line in f if line.strip()]
  steps = [_step(line) for line in lines]
  partial = None
  if steps and steps[-1] is None:
    partial = lines.pop().strip()
    steps.pop()
  if None in steps:
    number = steps.index(None) + 1
    raise DamagedRecordsError(
        f'line {number} of {path} is not a record ({lines[number - 1].strip()[:60]!r}); '
        f'delete that line to resume')
  kept = [line for line, step in zip(lines, steps) if step <= last_step]
  if kept != lines or partial is not None:
    with open(f'{path}.partial', 'w') as f:  # replaced whole, never half-written
      f.writelines(kept)
    os.replace(f'{path}.partial', path)
  return partial
