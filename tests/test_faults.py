"""Fault injection on the real entry points, as new processes: kill -9 at random
points, SIGTERM and Ctrl-C, damaged checkpoints and records, two writers, a
full disk, unavailable data, bad inputs; and, in process, a parameter made NaN
in each model. Each asserts that nothing finished is lost, that the run,
re-run, ends where an uninterrupted one ends, and that the user sees one line,
never a Python traceback.

Marked ``faults``: excluded from the default run; ``python -m pytest -m faults``
runs it (CI's own stage). The full-disk test mounts a small tmpfs in a user
namespace (``unshare -rm``) and is skipped where that is not allowed.
"""

import dataclasses
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import pytest

from tests import shared_data
from vi_gen import checkpoint
from vi_gen.training import loop

# A tiny 2D GAN: 300 stages in a few seconds, evaluated every 50, saved every 25.
FLAGS = ('--g_hidden=16', '--g_depth=2', '--d_hidden=8', '--d_depth=2',
         '--d_pieces=2', '--batch_size=16', '--eval_samples=200', '--steps=300',
         '--eval_every=50', '--checkpoint_every=25')
SCORES = ('step', 'modes', 'hq', 'reverse_kl')


def _command(workdir, *flags):
  return [sys.executable, '-m', 'experiments.gan', *FLAGS, *flags,
          f'--workdir={workdir}']


def _start(workdir, *flags):
  return subprocess.Popen(
      _command(workdir, *flags), cwd=shared_data.REPO, text=True,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      env=dict(os.environ, JAX_PLATFORMS='cpu'))


def _run(workdir, *flags):
  return subprocess.run(_command(workdir, *flags), cwd=shared_data.REPO,
                        capture_output=True, text=True, timeout=600,
                        env=dict(os.environ, JAX_PLATFORMS='cpu'))


def _scores(workdir):
  if not os.path.exists(os.path.join(workdir, 'metrics.jsonl')):
    return []
  return [{k: r[k] for k in SCORES} for r in shared_data.read_metrics(workdir)]


def _wait_for_checkpoint(workdir, process, timeout=300):
  """Waits until ``process`` has saved a checkpoint and is training on."""
  start = time.monotonic()
  while not checkpoint.checkpoint_steps(workdir):
    if process.poll() is not None or time.monotonic() - start > timeout:
      raise AssertionError(f'no checkpoint: {process.communicate()}')
    time.sleep(0.05)


class FaultsBase(absltest.TestCase):
  straight = None

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.straight_dir = tempfile.mkdtemp()
    result = _run(cls.straight_dir)
    assert result.returncode == 0, result.stderr
    cls.straight = _scores(cls.straight_dir)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.straight_dir, ignore_errors=True)
    super().tearDownClass()

  def assert_one_line(self, result, expected, status):
    self.assertEqual(result.returncode, status, result.stderr[-3000:])
    self.assertNotIn('Traceback', result.stderr)
    self.assertRegex(result.stderr.strip().splitlines()[-1], expected)

  def assert_finishes_as_uninterrupted(self, workdir):
    result = _run(workdir)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertNotIn('Traceback', result.stderr)
    self.assertEqual(_scores(workdir), self.straight)


@pytest.mark.faults
class KillTest(FaultsBase):

  def test_kill_9_at_random_points(self):
    workdir = self.create_tempdir().full_path
    rng = random.Random(0)
    for _ in range(3):
      process = _start(workdir)
      _wait_for_checkpoint(workdir, process)  # past the start-up
      time.sleep(rng.uniform(0.0, 3.0))
      process.kill()
      process.communicate()
      # Whatever was recorded is what an uninterrupted run recorded.
      recorded = _scores(workdir)
      self.assertEqual(recorded, self.straight[:len(recorded)])
    self.assert_finishes_as_uninterrupted(workdir)

  def test_sigterm_and_ctrl_c_save_at_once_and_resume(self):
    for signum, status in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
      workdir = self.create_tempdir().full_path
      process = _start(workdir)
      _wait_for_checkpoint(workdir, process)
      sent = time.monotonic()
      process.send_signal(signum)
      _, stderr = process.communicate(timeout=120)
      seconds = time.monotonic() - sent
      result = subprocess.CompletedProcess([], process.returncode, '', stderr)
      self.assert_one_line(
          result, rf'^experiments.gan: stopped by {signal.Signals(signum).name} '
          r'at stage (\d+) of 300, with a checkpoint saved there; run the '
          r'same command again to resume$', status)
      stage = int(stderr.strip().splitlines()[-1].split('at stage ')[1].split()[0])
      self.assertIn(stage, checkpoint.checkpoint_steps(workdir))
      self.assertLess(seconds, 30)  # a chunk, then the save: not the whole run
      self.assert_finishes_as_uninterrupted(workdir)


@pytest.mark.faults
class DamageTest(FaultsBase):

  def _finished(self):
    workdir = self.create_tempdir().full_path
    self.assertEqual(_run(workdir).returncode, 0)
    return workdir

  def test_deleted_and_truncated_checkpoint_files(self):
    for damage in ('delete', 'truncate'):
      workdir = self._finished()  # checkpoints 275 and 300
      latest = os.path.join(workdir, 'checkpoints', '300', 'default')
      if damage == 'delete':
        os.remove(os.path.join(latest, '_METADATA'))
      else:
        for path in glob.glob(os.path.join(latest, 'd', '*')):
          os.truncate(path, os.path.getsize(path) // 2)
      result = _run(workdir)
      self.assertEqual(result.returncode, 0, result.stderr[-3000:])
      self.assertNotIn('Traceback', result.stderr)
      self.assertIn('the checkpoint at step 300 does not restore', result.stderr)
      self.assertIn('resuming from step 275 instead', result.stderr)
      self.assertTrue(os.path.isdir(
          os.path.join(workdir, checkpoint.DAMAGED_DIR, '300')))
      self.assertEqual(_scores(workdir), self.straight)

  def test_every_checkpoint_damaged_is_one_line(self):
    workdir = self._finished()
    for step in ('275', '300'):
      shutil.rmtree(os.path.join(workdir, 'checkpoints', step, 'default'))
    self.assert_one_line(_run(workdir), r'^experiments.gan: error: no checkpoint '
                         r'in .* restores \(step 300: .*\); move that directory '
                         r'aside', 2)

  def test_a_partial_record_and_garbage_lines(self):
    workdir = self.create_tempdir().full_path
    process = _start(workdir)
    while len(checkpoint.checkpoint_steps(workdir)) < 2 or not os.path.exists(
        os.path.join(workdir, 'metrics.jsonl')):
      time.sleep(0.05)
    process.kill()
    process.communicate()
    path = os.path.join(workdir, 'metrics.jsonl')
    with open(path, 'a') as f:
      f.write('{"step": 999, "modes": 3, "hq"')  # a crash mid-append
    result = _run(workdir)
    self.assertIn('dropped a partial last line', result.stderr)
    self.assertEqual(_scores(workdir), self.straight)
    # Garbage before the last line, and a damaged config: one line each.
    with open(path) as f:
      lines = f.readlines()
    with open(path, 'w') as f:
      f.writelines(['garbage\n', *lines])
    self.assert_one_line(_run(workdir), r"line 1 of .*metrics.jsonl is not a "
                         r"record \('garbage'\); delete that line to resume$", 2)
    with open(path, 'w') as f:
      f.writelines(lines)
    with open(checkpoint.config_path(workdir), 'a') as f:
      f.write('}{')
    self.assert_one_line(_run(workdir), r'config.json is damaged \(.*\); '
                         r'restore it from a copy, or use another --workdir$', 2)

  def test_checkpoints_without_config_need_adopt(self):
    workdir = self._finished()
    os.remove(checkpoint.config_path(workdir))
    self.assert_one_line(_run(workdir), r'but no config.json, so what made them '
                         r'is unknown; re-run with --adopt', 2)
    result = _run(workdir, '--adopt')
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertEqual(_scores(workdir), self.straight)


@pytest.mark.faults
class TwoWritersTest(absltest.TestCase):

  def test_the_second_is_refused_and_the_first_unharmed(self):
    workdir = self.create_tempdir().full_path
    long = ('--steps=100000', '--lr_decay=constant')  # still training later
    first = _start(workdir, *long)
    _wait_for_checkpoint(workdir, first)
    second = _run(workdir, *long)
    self.assertEqual(second.returncode, 2, second.stderr[-3000:])
    self.assertNotIn('Traceback', second.stderr)
    self.assertRegex(
        second.stderr.strip().splitlines()[-1],
        rf'^experiments.gan: error: workdir {workdir} is in use by process '
        rf'{first.pid} on .*experiments.gan.*; wait for it to end, stop it, or '
        r'use another --workdir$')
    self.assertIsNone(first.poll())
    time.sleep(2)  # the first records on
    first.terminate()
    _, stderr = first.communicate(timeout=120)
    self.assertEqual(first.returncode, 143, stderr[-3000:])
    steps = [r['step'] for r in shared_data.read_metrics(workdir)]
    self.assertEqual(steps, list(range(50, 50 * len(steps) + 1, 50)))
    with open(os.path.join(workdir, '.lock')) as f:
      self.assertEqual(f.read(), '')  # released


@pytest.mark.faults
class UnavailableDataTest(absltest.TestCase):

  def test_each_experiment_fails_at_once_in_one_line(self):
    data_dir, manual = (self.create_tempdir().full_path for _ in range(2))
    workdir = os.path.join(self.create_tempdir().full_path, 'run')
    for module, flags in (
        ('experiments.gan', ['--config=configs/gan_mnist_exp1.py']),
        ('experiments.gan', ['--config=configs/gan_mnist_exp1.py',
                             '--dataset=cifar10', '--eval_samples=0']),
        ('experiments.vae', []),
        ('experiments.em', ['--config=configs/em_mnist.py'])):
      start = time.monotonic()
      result = shared_data.run_python(
          '-m', module, *flags, f'--data_dir={data_dir}', f'--manual_dir={manual}',
          f'--workdir={workdir}')
      self.assertEqual(result.returncode, 2, result.stderr[-3000:])
      self.assertNotIn('Traceback', result.stderr)
      self.assertRegex(result.stderr.strip().splitlines()[-1],
                       rf'^{module}: error: \w+ is not prepared in {data_dir}, '
                       rf'and the manual directory {manual} lacks .*; put the '
                       r'original files \(.*\) there, or pass --data_dir')
      self.assertLess(time.monotonic() - start, 120)  # start-up, not retries
      self.assertFalse(os.path.exists(workdir))
      self.assertEqual(os.listdir(data_dir), [])  # no partial downloads


@pytest.mark.faults
class OneLineErrorTest(parameterized.TestCase):
  """Bad inputs that used to train on, overflow or end in a traceback: one line
  on stderr and status 2, before anything is written."""

  @parameterized.named_parameters(
      ('em_negative_reg_covar', 'em', ['--reg_covar=-1'],
       'reg_covar must be >= 0, got -1.0'),
      ('em_nan_reg_covar', 'em', ['--reg_covar=nan'],
       'reg_covar must be a finite number, got nan'),
      ('em_more_components_than_points', 'em',
       ['--num_components=200', '--num_samples=50'],
       'num_components=200 is more than the 50 points to fit'),
      ('em_no_components', 'em', ['--num_components=0'],
       'num_components must be >= 1, got 0'),
      ('em_negative_pca', 'em', ['--pca_dim=-1', '--config=configs/em_mnist.py'],
       r'pca_dim must be in \[0, 784\]'),
      ('em_too_large_pca', 'em', ['--config=configs/em_mnist.py', '--pca_dim=1000'],
       r'pca_dim must be in \[0, 784\]'),
      ('em_negative_tol', 'em', ['--tol=-1'], 'tol must be >= 0'),
      ('em_no_samples', 'em', ['--num_samples=0'], 'num_samples must be >= 1'),
      ('em_mnist_components', 'em',
       ['--config=configs/em_mnist.py', '--num_components=100000'],
       'num_components=100000 is more than the 60000 points'),
      ('vae_zero_epochs', 'vae', ['--epochs=0'], 'epochs must be >= 1, got 0'),
      ('vae_negative_epochs', 'vae', ['--epochs=-2'], 'epochs must be >= 1'),
      ('vae_infinite_rate', 'vae', ['--learning_rate=inf'],
       'learning_rate must be a finite number, got inf'),
      ('gan_steps_overflow', 'gan', ['--steps=3000000000'],
       r'steps=3000000000 is out of range: JAX counts steps and seeds in int32'),
      ('gan_seed_overflow', 'gan', ['--seed=99999999999999999999'],
       'seed=99999999999999999999 is out of range'),
      ('mnist_one_eval_sample', 'gan',
       ['--config=configs/gan_mnist_exp1.py', '--eval_samples=1'],
       'eval_samples must be 0 .* or at least 2 on mnist and at most its 10000'),
      ('mnist_too_many_eval_samples', 'gan',
       ['--config=configs/gan_mnist_exp1.py', '--eval_samples=20000'],
       'eval_samples must be .* at most its 10000 test images'),
      ('distributed_without_a_cluster', 'gan', ['--distributed'],
       '--distributed: JAX could not start the processes .*, elsewhere give '
       '--coordinator_address'),
      ('classifier_zero_epochs', 'mnist_classifier', ['--epochs=0'],
       'epochs must be >= 1, got 0'),
  )
  def test_bad_input(self, experiment, flags, message):
    workdir = os.path.join(self.create_tempdir().full_path, 'run')
    args = [*flags] + ([] if experiment == 'mnist_classifier'
                       else [f'--workdir={workdir}'])
    result = shared_data.run_python('-m', f'experiments.{experiment}', *args)
    self.assertEqual(result.returncode, 2, result.stderr[-3000:])
    self.assertNotIn('Traceback', result.stderr)
    self.assertRegex(result.stderr.strip().splitlines()[-1],
                     rf'^experiments.{experiment}: error: {message}')
    self.assertFalse(os.path.exists(workdir))

  @parameterized.parameters('em', 'vae')
  def test_a_file_as_workdir(self, experiment):
    # The VAE's MNIST is checked before its workdir: give it the original files,
    # so that on a machine where MNIST is neither prepared nor reachable the
    # workdir is what fails.
    if experiment == 'vae':
      shared_data.skip_without_mnist_files(self)
    path = self.create_tempfile().full_path
    result = shared_data.run_python('-m', f'experiments.{experiment}',
                                    f'--workdir={path}',
                                    f'--manual_dir={shared_data.MANUAL_DIR}')
    self.assertEqual(result.returncode, 2, result.stderr[-3000:])
    self.assertRegex(result.stderr.strip().splitlines()[-1],
                     rf'^experiments.{experiment}: error: workdir {path} is not '
                     r'writable')

  def test_a_home_relative_workdir_is_expanded(self):
    result = shared_data.run_python('-m', 'experiments.gan', '--dry_run',
                                    '--workdir=~/vi_gen_runs/x')
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn(f'workdir: {os.path.expanduser("~/vi_gen_runs/x")}',
                  result.stdout)


def _poisoned(task_class, from_step):
  """``task_class.advance`` that makes the state's first floating parameter
  NaN once the step reaches ``from_step``, with the loss left finite."""
  advance = task_class.advance

  def poisoned(self, state, num):
    state, result = advance(self, state, num)
    if int(result['step']) >= from_step:
      done = []

      def nan_first(x):
        if not done and jnp.issubdtype(x.dtype, jnp.floating) and x.ndim > 1:
          done.append(True)
          return x * jnp.nan
        return x
      state = state.replace(**{'g_params' if hasattr(state, 'g_params') else
                               'params': jax.tree.map(nan_first, getattr(
                                   state, 'g_params' if hasattr(state, 'g_params')
                                   else 'params'))})
    return state, result
  return poisoned


@pytest.mark.faults
class RealModelsTest(parameterized.TestCase):
  """No experiment saves a NaN: the GAN, ALI, the AAE and the VAE, with a
  parameter made NaN at the checkpoint of step 4 while the losses stay
  finite."""

  @parameterized.parameters('gan', 'ali', 'aae', 'vae')
  def test_the_last_checkpoint_is_finite_and_the_step_named(self, model):
    from tests.test_encoder_experiment import _config  # pylint: disable=g-import-not-at-top
    from tests.test_gan_experiment import TINY as GAN  # pylint: disable=g-import-not-at-top
    from tests.test_vae_experiment import TINY as VAE  # pylint: disable=g-import-not-at-top
    from vi_gen.training import adversarial, vae  # pylint: disable=g-import-not-at-top
    workdir = self.create_tempdir().full_path
    if model == 'vae':
      task, train = vae.VAETask, vae.train_and_evaluate
      config = dataclasses.replace(VAE, steps=6, checkpoint_every=2)
    else:
      task, train = adversarial.Toy2DTask, adversarial.train_and_evaluate
      config = (dataclasses.replace(GAN, steps=6, checkpoint_every=2)
                if model == 'gan' else
                _config(model, 'ring8', steps=6, checkpoint_every=2))
    unit = 'step' if model == 'vae' else 'stage'
    with mock.patch.object(task, 'advance', _poisoned(task, 4)), \
        shared_data.mock_tfds():
      with self.assertRaisesRegex(
          loop.NonFiniteLossError,
          rf'non-finite values in \S+( and \d+ more)? at {unit} 4; stopped '
          r'without saving them\. The last good checkpoint \(step 2\)'):
        train(config, workdir)
    self.assertEqual(checkpoint.checkpoint_steps(workdir), [2])


def _unshare_works() -> bool:
  if not shutil.which('unshare'):
    return False
  probe = subprocess.run(
      ['unshare', '-rm', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs '
       '-o size=64k tmpfs "$d"'], capture_output=True)
  return probe.returncode == 0


@pytest.mark.faults
class FullDiskTest(FaultsBase):

  def test_a_full_disk_is_one_line_and_the_run_resumes(self):
    if not _unshare_works():
      self.skipTest('cannot mount a tmpfs in a user namespace (unshare -rm) here')
    out = self.create_tempdir().full_path
    command = ' '.join(_command('"$d/run"'))
    # A 200 KiB disk takes the configuration and the first checkpoint (and the
    # second, third: it depends on the files' sizes), then fills up; after it
    # is enlarged the same command resumes.
    script = f'''
      d=$(mktemp -d) && mount -t tmpfs -o size=200k tmpfs "$d" || exit 99
      {command} > {out}/first.out 2> {out}/first.err; echo $? > {out}/first.rc
      mount -o remount,size=16m "$d"
      {command} > {out}/second.out 2> {out}/second.err; echo $? > {out}/second.rc
      cp "$d/run/metrics.jsonl" {out}/
    '''
    subprocess.run(['unshare', '-rm', 'bash', '-c', script], cwd=shared_data.REPO,
                   timeout=900, env=dict(os.environ, JAX_PLATFORMS='cpu'))

    def read(name):
      with open(os.path.join(out, name)) as f:
        return f.read()
    first = subprocess.CompletedProcess([], int(read('first.rc')), '',
                                        read('first.err'))
    self.assert_one_line(
        first, r'^experiments.gan: error: could not (save the checkpoint|write '
        r'to) .*\(no space left on device\)\. The last good checkpoint \(step '
        r'\d+\) in .* is intact\. Free space and run the same command again to '
        r'resume\.$', 1)
    self.assertEqual(int(read('second.rc')), 0, read('second.err')[-3000:])
    self.assertNotIn('Traceback', read('second.err'))
    self.assertEqual(_scores(out), self.straight)


if __name__ == '__main__':
  absltest.main()
