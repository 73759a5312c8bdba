"""Summary statistics and result files shared by the benchmark scripts."""

import json
import os
from typing import Any

from vi_gen.training import seeds

# The one mean ± standard error, also what many-seed runs record.
mean_se = seeds.mean_se


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
