"""What the shared loop shows and records: progress lines, TensorBoard tags,
the configuration, and metrics.jsonl's floats."""

import dataclasses
import glob
import json
import os
from unittest import mock

from absl.testing import absltest
import numpy as np
from flax import struct
import jax.numpy as jnp
from tensorboard.backend.event_processing import event_accumulator

from vi_gen import progress
from vi_gen import parallel
from vi_gen import records
from vi_gen.training import loop


@dataclasses.dataclass(frozen=True)
class Config:
  steps: int = 40
  eval_every: int = 20
  checkpoint_every: int = 40
  steps_per_call: int = 2

  def resumable_fields(self):
    return ('steps',)


@struct.dataclass
class State:
  step: jnp.ndarray
  w: jnp.ndarray


class CountingTask:
  """Steps by ``num``; records each chunk it was asked for."""
  unit = 'stage'

  def __init__(self):
    self.chunks = []

  def start(self, state):
    del state

  def advance(self, state, num):
    self.chunks.append(num)
    state = state.replace(step=state.step + num)
    return state, {'step': int(state.step), 'count': num, 'bad_step': 0,
                   'metrics': {'d_loss': jnp.float32(1.96)}}

  def evaluate(self, state, step, workdir, writer):
    del state, workdir, writer
    return {'modes': 8, 'hq': float(jnp.float32(97.3)) if step else 0.0}

  def describe(self, record):
    return f'modes {record["modes"]}'


class LoopOutputsTest(absltest.TestCase):

  def _run(self, config=Config(), workdir=None, task=None):
    workdir = workdir or self.create_tempdir().full_path
    task = task or CountingTask()
    state = State(step=jnp.zeros((), jnp.int32), w=jnp.ones(3))
    with self.assertLogs(level='INFO') as logs:
      last = loop.run(config, workdir, state, lambda: task,
                      mesh=parallel.make_mesh())
    return workdir, task, last, [r.getMessage() for r in logs.records]

  def test_chunks_end_at_their_multiples_and_the_boundaries(self):
    # A hundredth of eval_every, a multiple of steps_per_call: 4 stages.
    config = Config(steps=1000, eval_every=500, checkpoint_every=250)
    _, task, _, _ = self._run(config)
    ends = np.cumsum(task.chunks)
    self.assertEqual(ends[-1], 1000)
    self.assertEqual(set(ends), set(range(4, 1001, 4)) | {250, 750})
    # Resumed from the checkpoint at 250, the run cuts the same chunks.
    workdir, _, _, _ = self._run(dataclasses.replace(config, steps=250))
    _, resumed, _, _ = self._run(config, workdir)
    self.assertEqual(list(250 + np.cumsum(resumed.chunks)),
                     [e for e in ends if e > 250])

  def test_evaluation_lines_carry_the_progress(self):
    _, _, last, lines = self._run()
    self.assertEqual(last['step'], 40)
    evals = [l for l in lines if 'modes 8' in l]
    self.assertLen(evals, 2)
    self.assertRegex(evals[0],
                     r'^stage 20/40: 50%, \S+ elapsed, ETA \S+, .* stages/s  modes 8')
    # Between evaluations, a line once EVERY_SECS have passed.
    with mock.patch.object(progress, 'EVERY_SECS', 0.0):
      _, _, _, lines = self._run()
    self.assertIn('stage 2/40: 5%', ' '.join(lines))

  def test_tensorboard_groups_and_the_configuration(self):
    workdir, _, _, _ = self._run()
    events = glob.glob(os.path.join(workdir, 'events*'))
    self.assertLen(events, 1)
    acc = event_accumulator.EventAccumulator(events[0])
    acc.Reload()
    tags = set(acc.Tags()['tensors'])
    self.assertLessEqual({'eval/modes', 'eval/hq', 'train/d_loss',
                          'time/stages_per_sec', 'time/eval_seconds', 'config'},
                         tags)
    self.assertFalse([t for t in tags if '/' not in t and t not in (
        'config',) and not t.startswith('_hparams_')], tags)

  def test_metrics_floats_are_rounded_to_float32_precision(self):
    workdir, _, _, _ = self._run()
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      line = f.readlines()[-1]
    self.assertIn('"d_loss": 1.96,', line)
    self.assertIn('"hq": 97.3,', line)
    self.assertEqual(records.rounded({'a': [0.1 + 0.2, 3], 'b': 'x'}),
                     {'a': [0.3, 3], 'b': 'x'})
    self.assertEqual(json.loads(line)['modes'], 8)


class ProgressTest(absltest.TestCase):

  def test_line_counts_the_rate_from_the_resumed_step(self):
    report = progress.Progress('stage', 10_000, 'stages', start=2000)
    self.assertEqual(report.line(2300, report.t0 + 3.0),
                     'stage 2300/10000: 23%, 00:03 elapsed, ETA 01:17, 100.00 '
                     'stages/s')

  def test_chunk(self):
    self.assertEqual(progress.chunk(1000), 10)
    self.assertEqual(progress.chunk(50), 1)
    self.assertEqual(progress.chunk(50, granularity=4), 4)
    self.assertEqual(progress.chunk(5000, granularity=4), 48)


if __name__ == '__main__':
  absltest.main()
