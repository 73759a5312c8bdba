"""experiments.aae and experiments.ali end to end: 2D and mock MNIST, resume, CLI."""

import dataclasses
import json
import os
import shutil

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import pytest

from tests import shared_data
from vi_gen.training import adversarial
from vi_gen.training import config as config_lib
import configs
TINY_2D = dict(g_hidden=16, g_depth=2, d_hidden=8, d_depth=2, d_pieces=2,
               batch_size=16, steps=4, eval_every=2, checkpoint_every=2,
               eval_samples=200)
TINY_IMAGES = dict(width=4, batch_size=8, latent_dim=8, steps=2, eval_every=1,
                   checkpoint_every=1, eval_samples=48)
ENCODER_KEYS = {'reconstruction', 'code_mmd', 'code_mean_norm',
                'code_cov_distance', 'd_loss', 'g_loss', 'ge_grad_norm'}


def _config(model, dataset, **overrides):
  tiny = TINY_IMAGES if dataset in ('mnist', 'stacked_mnist', 'cifar10') else TINY_2D
  return dataclasses.replace(configs.recipe(dataset, model=model),
                             **{**tiny, **overrides})


_records = shared_data.read_metrics


_comparable = shared_data.without_timings


class EncoderExperimentTest(parameterized.TestCase):

  @parameterized.parameters(('ali', {'ali_loss': 'vi'}),
                            ('ali', {'ali_loss': 'minimax', 'gaussian_encoder': True,
                                     'gaussian_generator': True}),
                            ('ali', {'ali_loss': 'nonsaturating',
                                     'ali_networks': 'pacgan', 'reg_lambda': 10.0,
                                     'ali_simultaneous': True}),
                            ('aae', {}), ('aae', {'reg_lambda': 10.0}))
  def test_2d_writes_mode_and_encoder_metrics(self, model, fields):
    workdir = self.create_tempdir().full_path
    final = adversarial.train_and_evaluate(_config(model, 'grid25', **fields), workdir)
    records = _records(workdir)
    self.assertEqual([r['step'] for r in records], [2, 4])
    self.assertContainsSubset(
        ENCODER_KEYS | {'modes', 'hq', 'reverse_kl', 'recon_same_mode'}, final)
    drift = 'g_drift' if model == 'ali' else 'e_drift'
    self.assertEqual(drift in final, fields.get('reg_lambda', 0) > 0)
    if model == 'aae':  # the training average beside the held-out score
      self.assertIn('train_reconstruction', final)
    for record in records:
      self.assertTrue(all(np.isfinite(v) for v in record.values()), record)
    self.assertTrue(os.path.exists(os.path.join(workdir, 'samples_0000004.png')))
    with open(os.path.join(workdir, 'config.json')) as f:
      self.assertEqual(json.load(f)['model'], model)

  @parameterized.parameters(('ali', 0.0), ('ali', 10.0), ('aae', 0.0),
                            ('aae', 10.0), ('ali', 0.0, 0.9))
  def test_resumed_run_equals_uninterrupted_run(self, model, reg_lambda, g_ema=0.0):
    # With λ > 0 the checkpoint carries the anchor G° too, with g_ema G's average.
    straight, resumed = (self.create_tempdir().full_path for _ in range(2))
    config = _config(model, 'ring8', reg_lambda=reg_lambda, g_ema=g_ema)
    adversarial.train_and_evaluate(config, straight)
    adversarial.train_and_evaluate(dataclasses.replace(config, steps=2), resumed)
    adversarial.train_and_evaluate(config, resumed)
    self.assertEqual([_comparable(r) for r in _records(resumed)],
                     [_comparable(r) for r in _records(straight)])

  @parameterized.parameters(('ali', 'mnist'), ('aae', 'stacked_mnist'))
  def test_mock_images_write_encoder_metrics_and_reconstructions(self, model,
                                                                 dataset):
    workdir = self.create_tempdir().full_path
    with shared_data.mock_tfds():
      final = adversarial.train_and_evaluate(_config(model, dataset), workdir)
    self.assertContainsSubset(ENCODER_KEYS | {'fd', 'recon_accuracy'}, final)
    self.assertBetween(final['recon_accuracy'], 0.0, 100.0)
    self.assertTrue(all(np.isfinite(v) for v in final.values()), final)
    for name in ('samples_0000002.png', 'reconstructions_0000002.png'):
      self.assertTrue(os.path.exists(os.path.join(workdir, name)), name)

  @parameterized.parameters(('ali', 'grid25', 'modes'), ('aae', 'mnist', 'fd'))
  def test_average_is_scored_beside_the_current_generator(self, model, dataset,
                                                          score):
    workdir = self.create_tempdir().full_path
    with shared_data.mock_tfds():
      final = adversarial.train_and_evaluate(_config(model, dataset, g_ema=0.5),
                                          workdir)
    self.assertContainsSubset({score, f'current_{score}', 'reconstruction',
                               'current_reconstruction'}, final)
    # The encoder is the same in both: its own scores agree; G(E(x)) does not.
    self.assertEqual(final['code_mmd'], final['current_code_mmd'])
    self.assertNotEqual(final['reconstruction'], final['current_reconstruction'])

  def test_mock_images_without_classifier(self):
    workdir = self.create_tempdir().full_path
    with shared_data.mock_tfds():
      final = adversarial.train_and_evaluate(
          _config('ali', 'cifar10', steps=1, eval_every=1), workdir)
    self.assertIn('code_mmd', final)
    self.assertNotIn('recon_accuracy', final)

  def test_bad_encoder_configs_are_refused(self):
    for field in (dict(g_steps=2), dict(g_repeats=3), dict(anchor='stage')):
      with self.subTest(**field), self.assertRaisesRegex(
          config_lib.ConfigError, 'one encoder/generator update per stage'):
        adversarial.train_and_evaluate(_config('aae', 'ring8', **field),
                                    self.create_tempdir().full_path)
    with self.assertRaisesRegex(config_lib.ConfigError, 'ali_simultaneous is for ALI'):
      adversarial.train_and_evaluate(_config('aae', 'ring8', ali_simultaneous=True),
                                  self.create_tempdir().full_path)
    with self.assertRaisesRegex(config_lib.ConfigError, 'one D update per stage'):
      adversarial.train_and_evaluate(
          _config('ali', 'ring8', ali_simultaneous=True, d_steps=2),
          self.create_tempdir().full_path)
    with self.assertRaisesRegex(config_lib.ConfigError, r'g_ema must be in \[0, 1\)'):
      adversarial.train_and_evaluate(_config('ali', 'ring8', g_ema=1.0),
                                  self.create_tempdir().full_path)
    with self.assertRaisesRegex(config_lib.ConfigError, 'unknown ALI loss'):
      adversarial.train_and_evaluate(_config('ali', 'ring8', ali_loss='wasserstein'),
                                  self.create_tempdir().full_path)
    with self.assertRaisesRegex(config_lib.ConfigError, 'unknown model'):
      configs.recipe('ring8', model='vae')

  def test_pacgan_networks_only_for_ali_on_2d_data(self):
    refused = [(_config('ali', 'ring8', ali_networks='pacga'), 'unknown ali_networks'),
               (_config('aae', 'ring8', ali_networks='pacgan'), 'for ALI on 2D data'),
               (_config('ali', 'mnist', ali_networks='pacgan'), 'for ALI on 2D data'),
               (_config('ali', 'ring8', ali_networks='pacgan', gaussian_encoder=True),
                'already stochastic')]
    for config, message in refused:
      with self.subTest(message), self.assertRaisesRegex(config_lib.ConfigError,
                                                         message):
        adversarial.train_and_evaluate(config, self.create_tempdir().full_path)


@pytest.mark.integration
class CommandLineTest(parameterized.TestCase):

  def _run(self, module, *args):
    return shared_data.run_python('-m', module, *args)

  def test_ali_runs_and_reports(self):
    workdir = self.create_tempdir().full_path
    result = self._run('experiments.ali', '--ali_loss=nonsaturating',
                       '--g_hidden=16', '--g_depth=2', '--d_hidden=8',
                       '--d_depth=2', '--batch_size=16', '--eval_samples=200',
                       '--steps=2', '--eval_every=1', f'--workdir={workdir}')
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertRegex(result.stdout, r'final \(stage 2\): modes \d+, hq .*'
                     r'reconstruction .*recon_same_mode .*code_mmd')
    with open(os.path.join(workdir, 'config.json')) as f:
      self.assertEqual(json.load(f)['ali_loss'], 'nonsaturating')

  def test_ali_losses_benchmark_keeps_other_settings_apart(self):
    # A decayed run with other networks, rate and length is its own run and result file:
    # it must neither resume the default runs nor overwrite their results.
    # A table from another first seed is its own result file; its runs are not apart.
    workdir, out_dir = (self.create_tempdir().full_path for _ in range(2))
    result = self._run('benchmarks.ali_losses', '--datasets=ring8',
                       '--losses=nonsaturating', '--seeds=1', '--config.steps=2',
                       '--config.lr_decay=cosine', '--config.g_lr=3e-4',
                       '--config.d_lr=3e-4', '--config.ali_networks=pacgan',
                       '--config.beta1=0.8', '--config.batch_size=8',
                       '--config.ali_simultaneous=true', '--config.g_ema=0.9',
                       '--first_seed=3',
                       f'--workdir={workdir}', f'--out_dir={out_dir}')
    self.assertEqual(result.returncode, 0, result.stderr)
    suffix = '_cosine_ema0.9_pacgan_lr0.0003_b10.8_batch8_simultaneous_steps2'
    self.assertEqual(os.listdir(workdir), [f'ring8_nonsaturating{suffix}_seed3'])
    self.assertEqual(sorted(os.listdir(out_dir)),
                     [f'ali_losses{suffix}_firstseed3.{ext}'
                      for ext in ('json', 'json.lock', 'md')])
    suffix += '_firstseed3'
    with open(os.path.join(workdir, os.listdir(workdir)[0], 'config.json')) as f:
      config = json.load(f)
    self.assertEqual((config['g_lr'], config['d_lr'], config['steps'],
                      config['lr_decay'], config['ali_networks'], config['beta1'],
                      config['ali_simultaneous'], config['g_ema'], config['batch_size']),
                     (3e-4, 3e-4, 2, 'cosine', 'pacgan', 0.8, True, 0.9, 8))
    with open(os.path.join(out_dir, f'ali_losses{suffix}.json')) as f:
      results = json.load(f)
    cell = results['config_2d']
    self.assertEqual((cell['g_lr'], cell['beta1'], cell['batch_size'],
                      cell['ali_simultaneous'], results['first_seed']),
                     (3e-4, 0.8, 8, True, 3))
    self.assertEqual([r['seed'] for r in results['runs']['ring8']['nonsaturating']], [3])
    row = results['summary']['ring8']['nonsaturating']
    self.assertTrue(np.isfinite(row['hq']) and np.isfinite(row['current_hq']))
    with open(os.path.join(out_dir, f'ali_losses{suffix}.md')) as f:
      text = f.read()
    self.assertIn('1 seed(s) per cell (seed 3), mean ± standard error. '
                  'Budget: 2 stages (2D, batch 8), learning rates decayed to 0 (cosine), '
                  'G scored as its moving average (decay 0.9), 2D networks: pacgan, '
                  '2D learning rate 0.0003, 2D Adam β₁ 0.8, '
                  '2D D and E/G updates simultaneous.', text)
    # The command names the recipe's overrides as they were given.
    self.assertIn('--datasets=ring8 --losses=nonsaturating --config.', text)
    for given in ('--config.steps=2', '--config.lr_decay=cosine',
                  '--config.g_lr=0.0003', '--config.d_lr=0.0003',
                  '--config.ali_networks=pacgan', '--config.beta1=0.8',
                  '--config.batch_size=8', '--config.ali_simultaneous=True',
                  '--config.g_ema=0.9', ' --seeds=1 --first_seed=3`'):
      self.assertIn(given, text)

  def test_ali_losses_benchmark_sets_d_steps_regulariser_and_tail_apart(self):
    workdir, out_dir = (self.create_tempdir().full_path for _ in range(2))
    refused = self._run('benchmarks.ali_losses', '--datasets=ring8',
                        '--config.lr_decay_stages=1', f'--workdir={workdir}')
    self.assertEqual(refused.returncode, 2)
    self.assertIn('lr_decay_stages needs a decay (lr_decay=cosine)', refused.stderr)
    unnamed = self._run('benchmarks.ali_losses', '--datasets=ring8',
                        '--config.g_hidden=8', f'--workdir={workdir}')
    self.assertEqual(unnamed.returncode, 2)
    self.assertIn('g_hidden differ from configs/ali_ring8.py', unnamed.stderr)
    result = self._run('benchmarks.ali_losses', '--datasets=ring8',
                       '--losses=nonsaturating', '--seeds=1', '--config.steps=2',
                       '--config.d_steps=2', '--config.reg_lambda=10',
                       '--config.checkpoint_every=1', '--config.lr_decay=cosine',
                       '--config.lr_decay_stages=1', '--config.eval_every=1',
                       f'--workdir={workdir}', f'--out_dir={out_dir}')
    self.assertEqual(result.returncode, 0, result.stderr)
    suffix = '_cosine_dsteps2_reg10_decaylast1_steps2'
    self.assertEqual(os.listdir(workdir), [f'ring8_nonsaturating{suffix}_seed0'])
    run_dir = os.path.join(workdir, os.listdir(workdir)[0])
    # --checkpoint_every saves mid-run checkpoints and leaves the run's name alone.
    self.assertEqual(sorted(os.listdir(os.path.join(run_dir, 'checkpoints'))),
                     ['1', '2'])
    with open(os.path.join(run_dir, 'config.json')) as f:
      config = json.load(f)
    self.assertEqual((config['d_steps'], config['reg_lambda'], config['lr_decay'],
                      config['lr_decay_stages']), (2, 10.0, 'cosine', 1))
    # --eval_every: an evaluation after each stage; the table takes the last.
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
      records = [json.loads(line) for line in f]
    self.assertIn('g_drift', records[0])
    evals = [r for r in records if 'hq' in r]
    self.assertEqual([r['step'] for r in evals], [1, 2])
    with open(os.path.join(out_dir, f'ali_losses{suffix}.json')) as f:
      results = json.load(f)
    cell = results['config_2d']
    self.assertEqual((cell['d_steps'], cell['reg_lambda'], cell['lr_decay_stages']),
                     (2, 10.0, 1))
    run = results['runs']['ring8']['nonsaturating'][0]
    self.assertEqual(run['hq'], evals[-1]['hq'])
    # ...and the record keeps every evaluation's scores, for when the run is gone.
    self.assertEqual(run['history'],
                     [{k: r[k] for k in ('step', 'modes', 'hq', 'reverse_kl',
                                         'recon_same_mode')} for r in evals])
    with open(os.path.join(out_dir, f'ali_losses{suffix}.md')) as f:
      text = f.read()
    # The batch the budget names is the recipe's (configs/ali_ring8.py).
    self.assertIn('Budget: 2 stages (2D, batch 100), learning rates decayed to 0 '
                  '(cosine), 2D D updates per stage 2, 2D regulariser λ 10 on '
                  '‖G(z) − G°(z)‖², 2D rates constant until the last 1 stages, '
                  'decayed over them. Measured by', text)
    self.assertIn('--config.steps=2 --config.d_steps=2 --config.reg_lambda=10 '
                  '--config.checkpoint_every=1 --config.lr_decay=cosine '
                  '--config.lr_decay_stages=1 --config.eval_every=1 --seeds=1', text)

  def test_ali_losses_benchmark_takes_absent_runs_from_its_record(self):
    # The results JSON records each run; a run whose directory is gone is taken
    # from it, but only at the same length. Seed 1's record is made to look like
    # a run of another length, so it must be trained again.
    workdir, out_dir = (self.create_tempdir().full_path for _ in range(2))
    args = ('--datasets=ring8', '--losses=nonsaturating', '--seeds=2',
            '--config.steps=2', f'--workdir={workdir}', f'--out_dir={out_dir}')
    first = self._run('benchmarks.ali_losses', *args)
    self.assertEqual(first.returncode, 0, first.stderr)
    path = os.path.join(out_dir, 'ali_losses.json')
    with open(path) as f:
      results = json.load(f)
    seed0, seed1 = results['runs']['ring8']['nonsaturating']
    self.assertNotIn('history', seed0)  # one evaluation: the final scores say it all
    results['runs']['ring8']['nonsaturating'][1] = {**seed1, 'steps': 3}
    with open(path, 'w') as f:
      json.dump(results, f)
    for name in os.listdir(workdir):
      shutil.rmtree(os.path.join(workdir, name))

    second = self._run('benchmarks.ali_losses', *args)
    self.assertEqual(second.returncode, 0, second.stderr)
    self.assertIn('ring8 nonsaturating seed 0 (from the record):', second.stdout)
    self.assertEqual(os.listdir(workdir), ['ring8_nonsaturating_seed1'])
    with open(path) as f:
      runs = json.load(f)['runs']['ring8']['nonsaturating']
    self.assertEqual(runs[0], {**seed0, 'recorded': True})
    self.assertEqual((runs[1]['steps'], 'recorded' in runs[1]), (2, False))
    with open(os.path.join(out_dir, 'ali_losses.md')) as f:
      self.assertIn('ring8: eq. 43 (non-saturating) seed 0 from the per-run record',
                    f.read())

  def test_ali_losses_benchmark_records_each_run_as_it_finishes(self):
    # Seed 1's directory holds another configuration, so the invocation stops
    # there; seed 0, finished before it, must already be in the record, and a
    # re-run without seed 0's directory takes it from there.
    workdir, out_dir = (self.create_tempdir().full_path for _ in range(2))
    args = ('--datasets=ring8', '--losses=nonsaturating', '--seeds=2',
            '--config.steps=2', f'--workdir={workdir}', f'--out_dir={out_dir}')
    blocked = os.path.join(workdir, 'ring8_nonsaturating_seed1')
    os.makedirs(blocked)
    with open(os.path.join(blocked, 'config.json'), 'w') as f:
      json.dump({'seed': 99}, f)
    stopped = self._run('benchmarks.ali_losses', *args)
    self.assertNotEqual(stopped.returncode, 0)
    self.assertIn('different configuration', stopped.stderr)
    path = os.path.join(out_dir, 'ali_losses.json')
    with open(path) as f:
      record = json.load(f)
    self.assertNotIn('summary', record)
    (seed0,) = record['runs']['ring8']['nonsaturating']
    self.assertEqual((seed0['seed'], seed0['steps']), (0, 2))
    self.assertTrue(np.isfinite(seed0['hq']))
    self.assertFalse(os.path.exists(os.path.join(out_dir, 'ali_losses.md')))

    shutil.rmtree(os.path.join(workdir, 'ring8_nonsaturating_seed0'))
    shutil.rmtree(blocked)
    second = self._run('benchmarks.ali_losses', *args)
    self.assertEqual(second.returncode, 0, second.stderr)
    self.assertIn('ring8 nonsaturating seed 0 (from the record):', second.stdout)
    self.assertEqual(os.listdir(workdir), ['ring8_nonsaturating_seed1'])
    with open(path) as f:
      results = json.load(f)
    self.assertEqual(results['runs']['ring8']['nonsaturating'][0],
                     {**seed0, 'recorded': True})
    self.assertEqual(results['summary']['ring8']['nonsaturating']['seeds'], 2)

  def test_ali_losses_benchmark_shares_seeds_between_invocations(self):
    # --only_seeds trains and records just its seeds and writes no table; the
    # same command without it then reads them back and writes the table.
    workdir, out_dir = (self.create_tempdir().full_path for _ in range(2))
    args = ('--datasets=ring8', '--losses=nonsaturating', '--seeds=2',
            '--config.steps=2', f'--workdir={workdir}', f'--out_dir={out_dir}')
    path = os.path.join(out_dir, 'ali_losses.json')
    for seed in (1, 0):
      part = self._run('benchmarks.ali_losses', *args, f'--only_seeds={seed}')
      self.assertEqual(part.returncode, 0, part.stderr)
      self.assertIn(f'--only_seeds: seeds [{seed}] are in the record', part.stdout)
      trained = [1] if seed else [0, 1]
      self.assertEqual(sorted(os.listdir(workdir)),
                       [f'ring8_nonsaturating_seed{s}' for s in trained])
      with open(path) as f:
        record = json.load(f)
      self.assertNotIn('summary', record)
      self.assertEqual([r['seed'] for r in record['runs']['ring8']['nonsaturating']],
                       trained)
    self.assertFalse(os.path.exists(os.path.join(out_dir, 'ali_losses.md')))
    trained_seconds = [r['seconds_this_invocation']
                       for r in record['runs']['ring8']['nonsaturating']]
    # As if seed 0 had been trained on another machine: its record keeps that.
    record['runs']['ring8']['nonsaturating'][0]['device'] = 'gpu (elsewhere), jax 0'
    with open(path, 'w') as f:
      json.dump(record, f)

    whole = self._run('benchmarks.ali_losses', *args)
    self.assertEqual(whole.returncode, 0, whole.stderr)
    with open(path) as f:
      results = json.load(f)
    self.assertEqual(results['summary']['ring8']['nonsaturating']['seeds'], 2)
    runs = results['runs']['ring8']['nonsaturating']
    self.assertEqual([r['seed'] for r in runs], [0, 1])
    # Both runs were read back from their finished directories, not trained:
    # each keeps the time of the invocation that trained it.
    self.assertEqual([r['seconds_this_invocation'] for r in runs], trained_seconds)
    # Each record names what trained it (the backend first: 'cpu (...), jax ...'),
    # and reading a run back keeps the device its record names.
    self.assertEqual(runs[0]['device'], 'gpu (elsewhere), jax 0')
    self.assertTrue(runs[1]['device'].startswith('cpu (')
                    and ', jax ' in runs[1]['device'], runs[1]['device'])
    self.assertTrue(os.path.exists(os.path.join(out_dir, 'ali_losses.md')))

    outside = self._run('benchmarks.ali_losses', *args, '--only_seeds=2')
    self.assertNotEqual(outside.returncode, 0)
    self.assertIn('--only_seeds must name seeds in range(--first_seed, --first_seed + '
                  '--seeds)', outside.stderr)

  def test_ali_losses_table_of_one_loss_keeps_the_others(self):
    # Two losses tabled by separate invocations at different seed counts share
    # one results file: the second table adds its row and runs to the first's.
    workdir, out_dir = (self.create_tempdir().full_path for _ in range(2))
    args = ('--datasets=ring8', '--config.steps=2', f'--workdir={workdir}',
            f'--out_dir={out_dir}')
    path = os.path.join(out_dir, 'ali_losses.json')
    first = self._run('benchmarks.ali_losses', *args, '--losses=nonsaturating',
                      '--seeds=2')
    self.assertEqual(first.returncode, 0, first.stderr)
    with open(path) as f:
      before = json.load(f)
    second = self._run('benchmarks.ali_losses', *args, '--losses=minimax', '--seeds=1')
    self.assertEqual(second.returncode, 0, second.stderr)
    with open(path) as f:
      after = json.load(f)
    runs, summary = after['runs']['ring8'], after['summary']['ring8']
    self.assertEqual(runs['nonsaturating'], before['runs']['ring8']['nonsaturating'])
    self.assertEqual([r['seed'] for r in runs['minimax']], [0])
    self.assertEqual(summary['nonsaturating'],
                     before['summary']['ring8']['nonsaturating'])
    self.assertEqual(list(summary), ['minimax', 'nonsaturating'])  # the equations' order
    self.assertEqual([(summary[k]['seeds'], summary[k]['steps']) for k in summary],
                     [(1, 2), (2, 2)])
    with open(os.path.join(out_dir, 'ali_losses.md')) as f:
      text = f.read()
    self.assertRegex(text, r'\| eq\. 42 \(minimax\) \| \d+\.\d\d \|')  # one seed: no ±
    self.assertRegex(text, r'\| eq\. 43 \(non-saturating\) \* \| \d+\.\d\d ± ')
    self.assertIn('ring8: * from an earlier table with these settings '
                  '(`ali_losses.json`): eq. 43 (non-saturating), 2 seeds of 2 stages.',
                  text)
    self.assertIn('--datasets=ring8 --losses=minimax --config.steps=2 --seeds=1`',
                  text)

    # A file from before rows carried their seeds and length: its top-level
    # seeds and steps describe its rows, which keep them when another is added.
    legacy = {**after, 'seeds': 2, 'steps_2d': 2, 'steps_mnist': 1000,
              'summary': {'ring8': {'nonsaturating': {
                  k: v for k, v in summary['nonsaturating'].items()
                  if k not in ('seeds', 'steps')}}}}
    with open(path, 'w') as f:
      json.dump(legacy, f)
    third = self._run('benchmarks.ali_losses', *args, '--losses=minimax', '--seeds=1')
    self.assertEqual(third.returncode, 0, third.stderr)
    with open(path) as f:
      migrated = json.load(f)
    self.assertEqual(migrated['summary'], after['summary'])
    self.assertFalse({'seeds', 'steps_2d', 'steps_mnist'} & set(migrated))

  def test_ali_losses_record_lock_excludes_another_holder(self):
    # The lock record_run takes (vi_gen.filelock): while one holder has it,
    # another cannot.
    path = os.path.join(self.create_tempdir().full_path, 'record.lock')
    script = ('import fcntl; from vi_gen import filelock\n'
              f'with filelock.locked({path!r}):\n'
              f'  with open({path!r}) as f:\n'
              '    try:\n'
              '      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print("free")\n'
              '    except BlockingIOError:\n'
              '      print("held")\n'
              f'with open({path!r}) as f:\n'
              '  fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print("released")\n')
    result = shared_data.run_python('-c', script)
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertEqual(result.stdout.split(), ['held', 'released'])

  @parameterized.parameters((5, ' (over 5 seeds; the 2D protocol, docs/protocols.md, reports 10)'),
                            (10, ''))
  def test_beating_the_published_row_names_the_protocol_seeds(self, seeds, caveat):
    # In a subprocess: the benchmark's flags clash with the experiments' in this one.
    # Only the winning row's seeds count.
    script = ('from benchmarks import ali_losses as a; '
              'rows = {"nonsaturating": dict(modes=8, hq=99.0, reverse_kl=0.1, '
              f'seeds={seeds}), "vi": dict(modes=8, hq=97.0, reverse_kl=0.1, seeds=2)}}; '
              'print(a.beats_published("ring8", rows))')
    result = shared_data.run_python('-c', script)
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertEqual(result.stdout.strip(),
                     'ring8: eq. 43 (non-saturating) beat the published ALI row '
                     f'(6.6 modes, 97.6% HQ, KL 0.36) on all three means{caveat}.')

  @parameterized.parameters(
      ('experiments.ali', ['--ali_loss=hinge'], 'ali_loss'),
      ('experiments.aae', ['--recon_lambda=-1'],
       'experiments.aae: error: recon_lambda must be >= 0'),
      ('experiments.aae', ['--reg_lambda=-5'],
       'experiments.aae: error: reg_lambda must be >= 0'),
      ('experiments.ali', ['--reg_lambda=-1'],
       'experiments.ali: error: reg_lambda must be >= 0'))
  def test_bad_flag(self, module, args, message):
    workdir = self.create_tempdir().full_path
    result = self._run(module, *args, '--steps=1', f'--workdir={workdir}')
    self.assertNotEqual(result.returncode, 0)
    self.assertIn(message, result.stderr)
    self.assertFalse(os.path.exists(os.path.join(workdir, 'metrics.jsonl')))


if __name__ == '__main__':
  absltest.main()
