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


def truncate_metrics(path: str, last_step: int) -> None:
  """Drops records written after ``last_step`` (by a run that did not checkpoint)."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    records = [line for line in f if line.strip()]
  kept = [line for line in records if json.loads(line)['step'] <= last_step]
  with open(path, 'w') as f:
    f.writelines(kept)
