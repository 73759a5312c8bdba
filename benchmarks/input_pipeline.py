r"""Is the input pipeline the bottleneck? Its stages/s against the training step's.

    TFDS_MANUAL_DIR=/path/to/mnist python -m benchmarks.input_pipeline

For each dataset and schedule, measures (1) how many stage batches
``[d_steps, 64, H, W, C]`` the TFDS pipeline of ``vi_gen/data/images.py``
delivers per second when nothing else runs, and (2) how many stages per second
the jitted DCGAN stage trains on batches from that pipeline (after compilation,
``--train_stages`` stages, waiting for the last). The pipeline is not the
bottleneck when (1) is far above (2). Real data where it is available here
(``mnist``, ``stacked_mnist``); the other datasets need their files and are
skipped when TFDS cannot prepare them. Prints a table and writes
``--out_dir/input_pipeline.{md,json}``.
"""

import dataclasses
import time

from absl import app
from absl import flags
from absl import logging
import jax

from benchmarks import pipeline
from benchmarks import stats
from experiments import quiet_logs
from vi_gen.data import images
from vi_gen.training import build
from vi_gen.training import config as config_lib
import configs
from vi_gen.training import stage as stage_lib

_DATASETS = flags.DEFINE_list('datasets', ['mnist', 'stacked_mnist'],
                              'Datasets to measure.')
_PIPELINE_BATCHES = flags.DEFINE_integer('pipeline_batches', 500,
                                         'Stage batches timed from the pipeline.')
_TRAIN_STAGES = flags.DEFINE_integer('train_stages', 10, 'Stages timed in training.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmarks/results', 'Output directory.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data_dir.')
_MANUAL_DIR = flags.DEFINE_string('manual_dir', None,
                                  'TFDS manual_dir (default: $TFDS_MANUAL_DIR).')


def _batches(config: config_lib.GANConfig):
  return pipeline.stage_batches(config, _DATA_DIR.value, _MANUAL_DIR.value)


def training_rate(config: config_lib.GANConfig) -> float:
  batches = _batches(config)
  state = build.create_state(config)
  real_shape = (config.d_steps, config.batch_size,
                *images.get_dataset(config.dataset).shape)
  totals = stage_lib.zero_totals(state, real_shape, build.schedule(config))
  state, totals = stage_lib.train_stage_on_batch(  # compile
      state, next(batches)['image'], totals, schedule=build.schedule(config))
  jax.block_until_ready(totals)
  start = time.perf_counter()
  for _ in range(_TRAIN_STAGES.value):
    state, totals = stage_lib.train_stage_on_batch(
        state, next(batches)['image'], totals, schedule=build.schedule(config))
  jax.block_until_ready(totals)
  return _TRAIN_STAGES.value / (time.perf_counter() - start)


def main(argv):
  del argv
  quiet_logs.install()
  logging.set_verbosity(logging.WARNING)
  rows = []
  for dataset in _DATASETS.value:
    for preset in config_lib.PRESETS:
      config = dataclasses.replace(configs.recipe(dataset, preset),
                                   reg_lambda=5.0)
      try:
        pipe = pipeline.pipeline_rate(config, _PIPELINE_BATCHES.value,
                                      _DATA_DIR.value, _MANUAL_DIR.value)
      except Exception as e:  # pylint: disable=broad-except
        print(f'{dataset}: skipped, TFDS could not provide it here ({type(e).__name__})')
        break
      train = training_rate(config)
      row = {'dataset': dataset, 'schedule': preset, 'd_steps': config.d_steps,
             'batch_size': config.batch_size, 'pipeline_stages_per_s': pipe,
             'train_stages_per_s': train, 'headroom': pipe / train}
      rows.append(row)
      print(f'{dataset:14s} {preset}: pipeline {pipe:8.1f} stages/s, training '
            f'{train:6.2f} stages/s, headroom {pipe / train:6.0f}×', flush=True)

  lines = ['Stage batches per second from the TFDS pipeline alone, against DCGAN '
           'stages per second trained from it (λ = 5, batch 64), on this machine.',
           '', '| dataset | schedule | batches per stage | pipeline stages/s | '
           'training stages/s | headroom |', '|---|---|---|---|---|---|']
  lines += [f'| {r["dataset"]} | {r["schedule"]} | {r["d_steps"]} | '
            f'{r["pipeline_stages_per_s"]:.1f} | {r["train_stages_per_s"]:.2f} | '
            f'{r["headroom"]:.0f}× |' for r in rows]
  table = '\n'.join(lines) + '\n'
  print('\n' + table)
  stats.write_results(_OUT_DIR.value, 'input_pipeline', table, rows)


if __name__ == '__main__':
  app.run(main)
