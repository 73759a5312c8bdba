"""What the shared loop does when things go wrong: a NaN about to be saved, a
signal, a second run on the workdir, damaged checkpoints, records and config.

In process and fast, on a stand-in task; ``tests/test_faults.py`` does the same
to the real entry points as new processes (kill -9, signals, a full disk).
"""

import dataclasses
import glob
import json
import os
import shutil
import signal

from absl.testing import absltest
from flax import struct
import jax.numpy as jnp
import numpy as np

from vi_gen import checkpoint
from vi_gen import filelock
from vi_gen import parallel
from vi_gen import records
from vi_gen.training import config as config_lib
from vi_gen.training import loop
from vi_gen.training import validation


@dataclasses.dataclass(frozen=True)
class Config:
  steps: int = 40
  eval_every: int = 20
  checkpoint_every: int = 10

  def resumable_fields(self):
    return ('steps',)


@struct.dataclass
class State:
  step: jnp.ndarray
  w: jnp.ndarray


class Task:
  """w grows by its step number each step; ``poison`` makes w NaN at that step
  with a finite loss; ``signal_at`` sends the signal when reaching that step."""
  unit = 'stage'

  def __init__(self, poison=None, signal_at=None, signum=signal.SIGTERM):
    self.poison, self.signal_at, self.signum = poison, signal_at, signum

  def start(self, state):
    del state

  def advance(self, state, num):
    w, step = state.w, int(state.step)
    for s in range(step + 1, step + num + 1):
      w = w + s
      if s == self.poison:
        w = w.at[1].set(jnp.nan)
    state = state.replace(step=state.step + num, w=w)
    if self.signal_at is not None and step < self.signal_at <= step + num:
      os.kill(os.getpid(), self.signum)
    return state, {'step': int(state.step), 'count': num, 'bad_step': 0,
                   'metrics': {'d_loss': 1.0}}

  def evaluate(self, state, step, workdir, writer):
    del step, workdir, writer
    return {'w': float(jnp.sum(state.w))}

  def describe(self, record):
    return f'w {record["w"]}'


def _initial():
  return State(step=jnp.zeros((), jnp.int32), w=jnp.zeros(3))


def _run(workdir, config=Config(), task=None):
  loop.prepare(config, workdir, parallel.make_mesh(), {})
  return loop.run(config, workdir, _initial(), lambda: task or Task(),
                  mesh=parallel.make_mesh())


def _records(workdir):
  return [{k: r[k] for k in ('step', 'w')}
          for r in records.read_metrics(os.path.join(workdir, 'metrics.jsonl'))]


class ResilienceTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.straight = self.create_tempdir().full_path
    _run(self.straight)
    self.workdir = self.create_tempdir().full_path

  def assert_ends_as_uninterrupted(self):
    self.assertEqual(_records(self.workdir), _records(self.straight))
    self.assertEqual(checkpoint.checkpoint_steps(self.workdir), [30, 40])

  def test_a_non_finite_state_is_never_saved(self):
    with self.assertRaisesRegex(
        loop.NonFiniteLossError,
        r'non-finite values in w at stage 20; stopped without saving them\. '
        r'The last good checkpoint \(step 10\)'):
      _run(self.workdir, task=Task(poison=17))
    self.assertEqual(checkpoint.checkpoint_steps(self.workdir), [10])
    with self.assertRaisesRegex(loop.NonFiniteLossError,
                                'at stage 10; .* No checkpoint was saved'):
      _run(self.create_tempdir().full_path, task=Task(poison=3))

  def test_sigterm_and_ctrl_c_save_then_resume_to_the_same_end(self):
    for signum, status in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
      workdir = self.workdir = self.create_tempdir().full_path
      before = signal.getsignal(signum)
      with self.assertRaises(loop.Interrupted) as raised:
        _run(workdir, task=Task(signal_at=24, signum=signum))
      self.assertEqual(raised.exception.exit_status, status)
      self.assertIn(f'stopped by {signal.Signals(signum).name} at stage 24 of '
                    '40, with a checkpoint saved there', str(raised.exception))
      self.assertIs(signal.getsignal(signum), before)  # handlers restored
      self.assertIn(24, checkpoint.checkpoint_steps(workdir))
      _run(workdir)
      self.assertEqual(_records(workdir), _records(self.straight))

  def test_a_second_run_on_the_workdir_is_refused(self):
    lock = os.path.join(self.workdir, loop.LOCK_FILE)
    with filelock.exclusive(lock):
      with self.assertRaisesRegex(
          loop.WorkdirBusyError,
          rf'workdir {self.workdir} is in use by process {os.getpid()} on .*'
          r'; wait for it to end, stop it, or use another --workdir'):
        _run(self.workdir)
    self.assertFalse(os.path.exists(os.path.join(self.workdir, 'metrics.jsonl')))
    # A lock file left by a process that died holds no lock: the run goes on.
    with open(lock, 'w') as f:
      f.write('process 1 on elsewhere since 2026-01-01 (python -m experiments.gan)\n')
    _run(self.workdir)
    self.assert_ends_as_uninterrupted()
    with open(lock) as f:
      self.assertEqual(f.read(), '')  # released

  def test_a_damaged_checkpoint_falls_back_to_the_previous_one(self):
    _run(self.workdir)  # checkpoints 30 and 40
    os.remove(os.path.join(self.workdir, 'checkpoints', '40', 'default',
                           '_METADATA'))
    with self.assertLogs(level='WARNING') as logs:
      _run(self.workdir)
    damaged = os.path.join(self.workdir, checkpoint.DAMAGED_DIR, '40')
    self.assertTrue(any(
        'the checkpoint at step 40 does not restore' in m and
        f'resuming from step 30 instead. It was moved to {damaged}' in m
        for m in (r.getMessage() for r in logs.records)), logs.output)
    self.assertTrue(os.path.isdir(damaged))
    self.assert_ends_as_uninterrupted()

  def test_truncated_data_files_fall_back_too(self):
    _run(self.workdir)
    for path in glob.glob(os.path.join(self.workdir, 'checkpoints', '40',
                                       'default', 'd', '*')):
      os.truncate(path, 10)
    _run(self.workdir)
    self.assertTrue(os.path.isdir(
        os.path.join(self.workdir, checkpoint.DAMAGED_DIR, '40')))
    self.assert_ends_as_uninterrupted()

  def test_no_intact_checkpoint_is_one_line(self):
    _run(self.workdir)
    for step in ('30', '40'):
      shutil.rmtree(os.path.join(self.workdir, 'checkpoints', step, 'default'))
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r'^no checkpoint in .*/checkpoints restores \(step 40: ValueError: '
        r'.*\); move that directory aside to start afresh, or use another '
        r'--workdir$'):
      _run(self.workdir)

  def test_a_partial_last_record_is_dropped_on_resume(self):
    # A crash in the middle of appending record 40, before its checkpoint.
    _run(self.workdir, Config(steps=30))
    path = os.path.join(self.workdir, 'metrics.jsonl')
    records.truncate_metrics(path, 20)
    with open(path, 'a') as f:
      f.write('{"step": 40, "w": 1')
    with self.assertLogs(level='WARNING') as logs:
      _run(self.workdir)
    self.assertIn('dropped a partial last line', logs.output[0])
    self.assert_ends_as_uninterrupted()

  def test_a_garbage_record_before_the_last_is_one_line(self):
    _run(self.workdir, Config(steps=30))
    path = os.path.join(self.workdir, 'metrics.jsonl')
    with open(path) as f:
      good = f.read()
    with open(path, 'w') as f:
      f.write('\x00\x00garbage\n' + good)
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"line 1 of .* is not a record \('\\x00"):
      _run(self.workdir)

  def test_a_damaged_config_is_one_line(self):
    _run(self.workdir, Config(steps=30))
    with open(checkpoint.config_path(self.workdir), 'w') as f:
      f.write('{"steps": 3')
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r'config.json is damaged \(JSONDecodeError: .*\); restore it from a '
        r'copy, or use another --workdir'):
      _run(self.workdir)

  def test_checkpoints_without_their_config_are_adopted_only_on_request(self):
    _run(self.workdir)
    os.remove(checkpoint.config_path(self.workdir))
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r'holds checkpoints \(steps 30, 40\) but no config.json, so what made '
        r'them is unknown; re-run with --adopt'):
      _run(self.workdir)
    checkpoint.write_config(Config(), self.workdir)  # what --adopt does
    _run(self.workdir)
    self.assert_ends_as_uninterrupted()


class WritesTest(absltest.TestCase):

  def test_config_json_is_strict_and_whole(self):
    path = os.path.join(self.create_tempdir().full_path, 'summary.json')
    checkpoint.write_json(path, {'a': 1.5})
    with self.assertRaises(ValueError):
      checkpoint.write_json(path, {'a': float('nan')})
    with open(path) as f:
      self.assertEqual(json.load(f), {'a': 1.5})  # the previous file stays
    self.assertEqual(os.listdir(os.path.dirname(path)), ['summary.json'])

  def test_non_finite_names_the_leaves(self):
    tree = {'g': {'kernel': jnp.array([1.0, np.inf])}, 'step': jnp.int32(3),
            'd': {'bias': jnp.zeros(2)}, 'n': jnp.array([np.nan])}
    self.assertEqual(checkpoint.non_finite(tree), ['g/kernel', 'n'])
    self.assertEqual(checkpoint.non_finite({'a': jnp.ones(2)}), [])


class RepresentableTest(absltest.TestCase):
  """Numbers the device cannot hold are refused before anything is written."""

  def test_infinite_rates_and_overflowing_counts(self):
    cases = [
        (config_lib.VAEConfig(learning_rate=float('inf')),
         'learning_rate must be a finite number, got inf'),
        (config_lib.GANConfig(g_lr=float('nan')),
         'g_lr must be a finite number, got nan'),
        (config_lib.GANConfig(steps=3_000_000_000),
         r'steps=3000000000 is out of range: JAX counts steps and seeds in '
         r'int32 \(at most 2147483647\)'),
        (config_lib.GANConfig(seed=99999999999999999999),
         'seed=99999999999999999999 is out of range'),
        (config_lib.GANConfig(seed=2**31 - 2, num_seeds=3),
         'the last seed, 2147483648, is above 2147483647'),
    ]
    for config, message in cases:
      with self.assertRaisesRegex(config_lib.ConfigError, message):
        validation.validate(config)


if __name__ == '__main__':
  absltest.main()
