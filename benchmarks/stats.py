"""Summary statistics and result files shared by the benchmark scripts."""

import json
import math
import os
from typing import Any

import numpy as np


def mean_se(values) -> tuple[float, float]:
  """Mean and standard error of the mean (0 for a single value)."""
  values = np.asarray(values, np.float64)
  se = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0.0
  return float(values.mean()), float(se)


def write_markdown(out_dir: str, name: str, table: str) -> None:
  """Writes ``out_dir/name.md``, the markdown table."""
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, f'{name}.md'), 'w') as f:
    f.write(table if table.endswith('\n') else table + '\n')


def write_results(out_dir: str, name: str, table: str, data: Any) -> None:
  """Writes ``out_dir/name.md`` (the markdown table) and ``out_dir/name.json``."""
  write_markdown(out_dir, name, table)
  with open(os.path.join(out_dir, f'{name}.json'), 'w') as f:
    json.dump(data, f, indent=2)
