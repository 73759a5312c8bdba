"""Summary statistics shared by the benchmark scripts."""

import math

import numpy as np


def mean_se(values) -> tuple[float, float]:
  """Mean and standard error of the mean (0 for a single value)."""
  values = np.asarray(values, np.float64)
  se = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0.0
  return float(values.mean()), float(se)
