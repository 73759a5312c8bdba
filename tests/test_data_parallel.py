"""Data parallelism: a stage on 8 devices computes what it computes on 1.

The cases need 8 devices. On a machine with fewer, the one test that runs here
re-runs this file in a subprocess with 8 fake CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=8``), which must be set
before JAX starts.
"""

import dataclasses
import json
import os
import subprocess
import sys

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vi_gen import parallel
from vi_gen.models import vae as vae_models
from vi_gen.data import toy2d
from vi_gen.training import adversarial
from vi_gen.training import build
from vi_gen.training import config as config_lib
import configs
from vi_gen.training import stage as stage_lib
from vi_gen.training import vae_step

DEVICES = 8
FAKE_DEVICES_FLAG = f'--xla_force_host_platform_device_count={DEVICES}'


@absltest.skipIf(jax.device_count() >= DEVICES, 'the cases run in this process')
@pytest.mark.integration
class EightFakeDevicesTest(absltest.TestCase):

  def test_cases_pass_on_eight_fake_cpu_devices(self):
    env = dict(os.environ, JAX_PLATFORMS='cpu',
               XLA_FLAGS=f'{os.environ.get("XLA_FLAGS", "")} {FAKE_DEVICES_FLAG}')
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-n', '0',
         f'{__file__}::DataParallelTest'],
        env=env, capture_output=True, text=True, check=False)
    print(result.stdout[-4000:])
    self.assertEqual(result.returncode, 0,
                     f'8-device cases failed:\n{result.stdout[-8000:]}\n'
                     f'{result.stderr[-4000:]}')
    self.assertRegex(result.stdout, r'\d+ passed')
    self.assertNotRegex(result.stdout, r'skipped')


def _meshes():
  devices = jax.devices()
  return parallel.make_mesh(devices[:1]), parallel.make_mesh(devices[:DEVICES])


def _image_config(preset: str) -> config_lib.GANConfig:
  return dataclasses.replace(configs.recipe('mnist', preset),
                             batch_size=16, width=8, latent_dim=8)


def _ring_config() -> config_lib.GANConfig:
  return dataclasses.replace(configs.recipe('ring8'), batch_size=16,
                             g_hidden=16, g_depth=2, d_hidden=8, d_depth=2,
                             d_pieces=2, eval_samples=64, steps=4, eval_every=2,
                             checkpoint_every=4)


def _image_stages_on_1_and_8(config: config_lib.GANConfig, stages: int = 2):
  """``stages`` stages of ``config``'s model on one random image batch, on 1
  device and on 8; the final ``(state, totals)`` of each."""
  real = jax.random.uniform(jax.random.PRNGKey(1),
                            (config.d_steps, config.batch_size, 28, 28, 1),
                            minval=-1, maxval=1)
  results = []
  for mesh in _meshes():
    state = parallel.replicate(build.create_state(config), mesh)
    batch = parallel.shard_batch(np.asarray(real), mesh, batch_axis=1)
    with jax.set_mesh(mesh):
      totals = stage_lib.zero_totals(state, batch.shape, build.schedule(config),
                                     build.stage_fn(config))
      for _ in range(stages):
        state, totals = stage_lib.train_stage_on_batch(
            state, batch, totals, schedule=build.schedule(config),
            stage_fn=build.stage_fn(config))
    results.append((state, totals))
  return results


def _assert_trees_close(test, a, b, rtol=2e-5, atol=2e-6, stray_fraction=0.0,
                        stray_atol=None):
  """Leaves equal to ``rtol``/``atol``; with ``stray_fraction``, up to that
  fraction of each leaf's elements (at least 1) may instead be within ``stray_atol``."""
  paths_a = jax.tree_util.tree_leaves_with_path(a)
  leaves_b = jax.tree.leaves(b)
  test.assertEqual(len(paths_a), len(leaves_b))
  for (path, x), y in zip(paths_a, leaves_b):
    x, y = np.asarray(x), np.asarray(y)
    if stray_fraction and np.issubdtype(x.dtype, np.floating):
      stray = ~np.isclose(x, y, rtol=rtol, atol=atol)
      if 0 < stray.sum() <= max(1, stray_fraction * x.size):
        np.testing.assert_allclose(x[stray], y[stray], rtol=0, atol=stray_atol,
                                   err_msg=jax.tree_util.keystr(path))
        x, y = x[~stray], y[~stray]
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol,
                               err_msg=jax.tree_util.keystr(path))


@absltest.skipIf(jax.device_count() < DEVICES,
                 f'needs {DEVICES} devices; EightFakeDevicesTest runs it with them')
class DataParallelTest(parameterized.TestCase):

  @parameterized.parameters(('exp1', 5.0), ('exp2', 5.0), ('exp1', 0.0))
  def test_image_stage_on_8_devices_equals_1(self, preset, reg_lambda):
    config = dataclasses.replace(_image_config(preset), reg_lambda=reg_lambda)
    (one, one_totals), (eight, eight_totals) = _image_stages_on_1_and_8(config)

    # Really spread: the parameters live on all 8 devices, the batch in shards.
    self.assertEqual(len(eight.g_params['Dense_0']['kernel'].sharding.device_set),
                     DEVICES)
    self.assertTrue(eight.g_params['Dense_0']['kernel'].sharding.is_fully_replicated)
    _assert_trees_close(self, eight, one)
    _assert_trees_close(self, eight_totals, one_totals)

  @parameterized.parameters(
      ('ali', dict(ali_loss='vi')),
      ('ali', dict(ali_loss='nonsaturating', gaussian_encoder=True,
                   gaussian_generator=True)),
      ('ali', dict(ali_loss='vi', ali_simultaneous=True, reg_lambda=5.0)),
      ('aae', {}))
  def test_encoder_image_stage_on_8_devices_equals_1(self, model, fields):
    config = dataclasses.replace(configs.recipe('mnist', model=model),
                                 batch_size=16, width=8, latent_dim=8, **fields)
    (one, one_totals), (eight, eight_totals) = _image_stages_on_1_and_8(config)
    self.assertTrue(jax.tree.leaves(eight.e_params)[0].sharding.is_fully_replicated)
    self.assertEqual(int(eight.step), 2)
    # Adam's first steps move a weight by about lr · g / (|g| + ε), so a weight
    # whose gradient is near ε (1e-8) moves by an amount that a change in the
    # order of the gradient's float sums can shift by a few percent of lr
    # (2e-4): 1 of the joint D's 1.3M weights has differed by 4e-6 (Gaussian
    # case) on one CPU and by 1.5e-5 (simultaneous, λ 5) on another. So a few
    # weights per 10⁵ may pass the tight tolerance, each by less than one
    # Adam move (lr); a sharding error moves most weights. The metrics, which
    # sum over everything, keep the tight tolerance.
    _assert_trees_close(self, eight, one, atol=1e-5, stray_fraction=1e-5,
                        stray_atol=config.g_lr)
    _assert_trees_close(self, eight_totals, one_totals)

  @parameterized.parameters('bernoulli', 'gaussian')
  def test_vae_steps_on_8_devices_equal_1(self, likelihood):
    model = vae_models.make_vae('mlp', (8, 8, 1), latent_dim=4,
                                likelihood=likelihood, hidden=(16,))
    images = np.asarray(jax.random.uniform(jax.random.PRNGKey(1), (16, 8, 8, 1)))
    create = lambda mesh: parallel.replicate(vae_step.VAEState.create(
        rng=jax.random.PRNGKey(0), model=model, tx=optax.adam(1e-2),
        image_shape=(8, 8, 1), latent_dim=4, likelihood=likelihood), mesh)
    results = []
    for mesh in _meshes():
      state, fresh = create(mesh), create(mesh)  # train_steps donates its state
      batch = parallel.shard_batch(images, mesh)
      stacked = parallel.shard_batch(np.stack([images] * 3), mesh, batch_axis=1)
      with jax.set_mesh(mesh):
        fused, fused_sums = vae_step.train_steps(fresh, stacked)
        for _ in range(3):
          state, metrics = vae_step.train_step(state, batch)
        nll = vae_step.importance_weighted_nll(state, batch, jax.random.PRNGKey(2),
                                               num_samples=8, chunk=4)
      results.append((state, metrics, nll))
      # The loop's fused steps (vi_gen.training.vae) are the same three steps.
      _assert_trees_close(self, fused.params, state.params, atol=1e-5)
      self.assertEqual(int(fused.step), 3)
      self.assertTrue(np.isfinite(float(fused_sums['loss'])))
    # The per-example NLL comes back split over the 8 devices, as the batch was.
    self.assertFalse(results[1][2].sharding.is_fully_replicated)
    self.assertEqual(len(results[1][2].sharding.device_set), DEVICES)
    _assert_trees_close(self, results[1], results[0])

  def test_the_step_computes_per_device_shards(self):
    """The compiled 8-device stage holds 1/8 of the batch per device and reduces."""
    config = _image_config('exp1')
    mesh = _meshes()[1]
    state = parallel.replicate(build.create_state(config), mesh)
    batch = parallel.shard_batch(
        np.zeros((1, config.batch_size, 28, 28, 1), np.float32), mesh, batch_axis=1)
    with jax.set_mesh(mesh):
      totals = stage_lib.zero_totals(state, batch.shape, build.schedule(config))
      hlo = stage_lib.train_stage_on_batch.lower(
          state, batch, totals, schedule=build.schedule(config)).compile().as_text()
    self.assertEqual(batch.addressable_shards[0].data.shape,
                     (1, config.batch_size // DEVICES, 28, 28, 1))
    self.assertIn('all-reduce', hlo)
    # Activations are per-device: the first generator layer's output for the
    # local 2 examples (7·7·16 features each), never the global 16.
    local = config.batch_size // DEVICES
    self.assertIn(f'f32[{local},784]', hlo)
    self.assertNotIn(f'f32[{config.batch_size},784]', hlo)

  def test_fused_2d_stages_on_8_devices_equal_1(self):
    config = _ring_config()
    results = []
    for mesh in _meshes():
      state = parallel.replicate(build.create_state(config), mesh)
      with jax.set_mesh(mesh):
        out = stage_lib.train_stages(
            state, parallel.replicate(np.int32(3), mesh),
            schedule=build.schedule(config),
            sample_real=toy2d.real_sampler(config.dataset),
            batch_size=config.batch_size)
      results.append(out)
    _assert_trees_close(self, results[1], results[0])

  def test_experiment_on_8_devices_writes_the_same_metrics(self):
    config = _ring_config()
    records = []
    for mesh in _meshes():
      workdir = self.create_tempdir().full_path
      adversarial.train_and_evaluate(config, workdir, mesh=mesh)
      with open(os.path.join(workdir, 'metrics.jsonl')) as f:
        records.append([json.loads(line) for line in f])
    one, eight = records
    self.assertEqual([r['step'] for r in eight], [2, 4])
    for a, b in zip(eight, one):
      for key in ('modes', 'd_loss', 'g_loss', 'reverse_kl'):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, err_msg=key)

  def test_a_batch_that_does_not_split_evenly_is_a_config_error(self):
    config = dataclasses.replace(_ring_config(), batch_size=12)
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        'batch_size=12 does not divide evenly over the 8 devices.*8 or 16'):
      adversarial.train_and_evaluate(config, self.create_tempdir().full_path,
                                  mesh=_meshes()[1])

  def test_constrain_batch_is_a_no_op_without_a_mesh_or_an_even_split(self):
    x = jnp.ones((12, 3))
    self.assertIs(parallel.constrain_batch(x), x)
    with jax.set_mesh(_meshes()[1]):
      self.assertIs(parallel.constrain_batch(x), x)  # 12 % 8 != 0


if __name__ == '__main__':
  absltest.main()
