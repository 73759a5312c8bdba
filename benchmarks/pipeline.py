"""The input pipeline's rate on its own, shared by the benchmark scripts."""

import time
from typing import Optional

from vi_gen.data import images
from vi_gen.training import config as config_lib


def stage_batches(config: config_lib.GANConfig, data_dir: Optional[str] = None,
                  manual_dir: Optional[str] = None):
  """The training stream of ``config``'s dataset, as the experiment reads it."""
  return images.train_batches(config.dataset, batch_size=config.batch_size,
                              d_steps=config.d_steps, seed=0, data_dir=data_dir,
                              manual_dir=manual_dir)


def pipeline_rate(config: config_lib.GANConfig, num_batches: int,
                  data_dir: Optional[str] = None,
                  manual_dir: Optional[str] = None) -> float:
  """Stage batches per second that the pipeline delivers when nothing else runs."""
  batches = stage_batches(config, data_dir, manual_dir)
  for _ in range(20):  # fill the shuffle buffer and the prefetch queue
    next(batches)
  start = time.perf_counter()
  for _ in range(num_batches):
    next(batches)
  return num_batches / (time.perf_counter() - start)
