"""AAE and ALI stages and networks: shapes, finiteness, what each update changes, tracing."""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vi_gen.data import toy2d
from vi_gen.losses import ali as ali_losses
from vi_gen.metrics import latent
from vi_gen.models import encoders
from vi_gen.models.dcgan import DCGANGenerator
from vi_gen.models.mlp2d import MaxoutDiscriminator, MLPGenerator
from vi_gen.training import encoder_stage
from vi_gen.training import state as state_lib
from vi_gen.training.state import EncoderGANState
from vi_gen.training.stage import train_stages
from vi_gen.training.state import apply_model

BATCH = 8


def _state(model, gaussian=False, latent_dim=2, seed=0, pacgan=False,
           anchor=False):
  """Tiny networks; ``pacgan``: PacGAN's ALI kinds (input-noise E, raw-join D);
  ``anchor``: the anchor of the model's regulariser (ALI: G°, AAE: E°)."""
  generator = MLPGenerator(hidden=16, depth=2)
  encoder = MLPGenerator(hidden=16, depth=2, out_dim=latent_dim)
  if gaussian:
    generator, encoder = (encoders.GaussianOutput(generator),
                          encoders.GaussianOutput(encoder))
  if pacgan:
    encoder = encoders.NoiseInputEncoder(encoder)
  discriminator = (encoders.JointMaxoutDiscriminator(hidden=8, depth=2, pieces=3,
                                                     embed=not pacgan)
                   if model == 'ali' else
                   MaxoutDiscriminator(hidden=8, depth=2, pieces=3))
  return EncoderGANState.create(
      rng=jax.random.PRNGKey(seed), generator=generator, encoder=encoder,
      discriminator=discriminator, ge_tx=optax.adam(1e-2, 0.5),
      d_tx=optax.adam(1e-2, 0.5), latent_shape=(latent_dim,), data_shape=(2,),
      joint=model == 'ali', g_anchor=anchor and model == 'ali',
      e_anchor=anchor and model == 'aae')


def _real(d_steps, seed=1):
  return toy2d.ring8().sample(jax.random.PRNGKey(seed), d_steps * BATCH).reshape(
      d_steps, BATCH, 2)


SCHEDULES = [
    ('ali_vi', 'ali', encoder_stage.ALISchedule(loss='vi')),
    ('ali_minimax', 'ali', encoder_stage.ALISchedule(loss='minimax', d_steps=2)),
    ('ali_nonsaturating_gaussian', 'ali', encoder_stage.ALISchedule(
        loss='nonsaturating', gaussian_encoder=True, gaussian_generator=True)),
    ('ali_pacgan_networks', 'ali', encoder_stage.ALISchedule(
        loss='nonsaturating', noise_input_encoder=True)),
    ('ali_regularised_gaussian', 'ali', encoder_stage.ALISchedule(
        loss='vi', gaussian_encoder=True, gaussian_generator=True,
        reg_lambda=10.0)),
    ('ali_simultaneous_regularised', 'ali', encoder_stage.ALISchedule(
        loss='nonsaturating', noise_input_encoder=True, simultaneous=True,
        reg_lambda=5.0)),
    ('ali_simultaneous_r1', 'ali', encoder_stage.ALISchedule(
        loss='nonsaturating', noise_input_encoder=True, simultaneous=True,
        r1_gamma=1.0)),
    ('ali_r1', 'ali', encoder_stage.ALISchedule(loss='minimax', r1_gamma=1.0)),
    ('aae', 'aae', encoder_stage.AAESchedule(recon_lambda=3.0, d_steps=2)),
    ('aae_regularised', 'aae', encoder_stage.AAESchedule(reg_lambda=5.0)),
]


def _stage(model):
  return encoder_stage.ali_stage if model == 'ali' else encoder_stage.aae_stage


class StageTest(parameterized.TestCase):

  @parameterized.named_parameters(*SCHEDULES)
  def test_one_stage_updates_every_network_and_is_finite(self, model, schedule):
    state = _state(model, gaussian=getattr(schedule, 'gaussian_encoder', False),
                   pacgan=getattr(schedule, 'noise_input_encoder', False),
                   anchor=getattr(schedule, 'reg_lambda', 0) > 0)
    new, metrics = jax.jit(functools.partial(_stage(model), schedule=schedule))(
        state, _real(schedule.d_steps))
    self.assertEqual(int(new.step), 1)
    chex.assert_tree_all_finite(metrics)
    chex.assert_trees_all_equal_shapes(new, state)
    for name in ('d_loss', 'g_loss', 'd_grad_norm', 'ge_grad_norm', 'ge_total'):
      chex.assert_shape(metrics[name], ())
    for name in ('g_params', 'e_params', 'd_params'):
      changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                             getattr(new, name), getattr(state, name))
      self.assertTrue(all(jax.tree.leaves(changed)), name)
    # BatchNorm statistics of E and G move with their update.
    for name in ('e_batch_stats', 'g_batch_stats'):
      moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                           getattr(new, name), getattr(state, name))
      self.assertTrue(all(jax.tree.leaves(moved)), name)

  def test_ali_g_loss_is_the_chosen_loss_of_the_same_logits(self):
    # The D update is the same whichever E/G loss is chosen, so g_loss is each
    # loss of the same logits: vi − nonsaturating = −mean encoder logit (eq. 41
    # vs 43) and vi + minimax = −mean generator logit (eq. 41 vs 42).
    state, real = _state('ali'), _real(1)
    results = {}
    for name in ali_losses.GENERATOR_LOSSES:
      new, metrics = encoder_stage.ali_stage(state, real,
                                             encoder_stage.ALISchedule(loss=name))
      results[name] = float(metrics['g_loss'])
    x = real[-1]
    codes, _ = apply_model(state.encoder, state.e_params, state.e_batch_stats, x,
                           train=True)
    enc_logits = state.discriminator.apply({'params': new.d_params}, x, codes)
    np.testing.assert_allclose(results['vi'] - results['nonsaturating'],
                               -float(enc_logits.mean()), rtol=1e-4, atol=1e-5)
    self.assertNotAlmostEqual(results['vi'], results['minimax'])

  @parameterized.named_parameters(
      # ALI: eq. 40's KL(q(x|z) ‖ q°(x|z)) as λ‖G(z) − G°(z)‖².
      ('ali', 'ali', encoder_stage.ali_stage, encoder_stage.ALISchedule,
       'g_params', 'g_anchor_params', 'g_drift'),
      # AAE: eq. 32's KL(p(z) ‖ p°(z)) as λ‖E(x) − E°(x)‖².
      ('aae', 'aae', encoder_stage.aae_stage, encoder_stage.AAESchedule,
       'e_params', 'e_anchor_params', 'e_drift'))
  def test_anchor_term(self, model, stage_fn, schedule_cls, params, anchor,
                       drift):
    # The anchor is the network before the previous E/G update.
    real = _real(1)
    plain_schedule, reg_schedule = schedule_cls(), schedule_cls(reg_lambda=50.0)
    stage = jax.jit(stage_fn, static_argnames='schedule')
    plain, reg = _state(model), _state(model, anchor=True)
    chex.assert_trees_all_equal(getattr(reg, anchor), getattr(reg, params))
    self.assertEqual(getattr(plain, anchor), {})

    # Stage 1: anchor == network, so the term is 0 with zero gradient: the same
    # update as without it.
    plain1, plain_m = stage(plain, real, schedule=plain_schedule)
    reg1, reg_m = stage(reg, real, schedule=reg_schedule)
    self.assertEqual(float(reg_m[drift]), 0.0)
    self.assertNotIn(drift, plain_m)
    for name in ('g_params', 'e_params', 'd_params'):
      chex.assert_trees_all_close(getattr(reg1, name), getattr(plain1, name),
                                  rtol=1e-6, atol=1e-7)
    # The parameters the update started from are now the anchor.
    chex.assert_trees_all_equal(getattr(reg1, anchor), getattr(reg, params))

    # Stage 2 from the same state: the network has moved from its anchor, so
    # the term is positive, adds λ·drift to the E/G loss and changes the update.
    plain2, plain_m = stage(reg1.replace(**{anchor: {}}), real,
                            schedule=plain_schedule)
    reg2, reg_m = stage(reg1, real, schedule=reg_schedule)
    self.assertGreater(float(reg_m[drift]), 0.0)
    np.testing.assert_allclose(float(reg_m['ge_total'] - plain_m['ge_total']),
                               50.0 * float(reg_m[drift]), rtol=1e-4)
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()),
                         getattr(reg2, params), getattr(plain2, params))
    self.assertGreater(max(jax.tree.leaves(moved)), 1e-7)
    chex.assert_trees_all_equal(getattr(reg2, anchor), getattr(reg1, params))

  def test_simultaneous_updates_share_one_pass_at_the_current_parameters(self):
    # D and E/G each step on its own loss from the same draw, and E/G face the
    # D of before this stage (alternating updates face the updated one).
    schedule = encoder_stage.ALISchedule(loss='vi', simultaneous=True,
                                         noise_input_encoder=True)
    state, real = _state('ali', pacgan=True), _real(1)
    new, metrics = encoder_stage.ali_stage(state, real, schedule)

    d_key = state_lib.stage_keys(state)['d']
    noise = encoder_stage._ali_noise(state, real[0], d_key, schedule)
    ge = {'encoder': state.e_params, 'generator': state.g_params}

    def logits(d_params, ge):
      encoder_pair, generator_pair, _, _ = encoder_stage._ali_pairs(
          state, ge, real[0], noise)
      return encoder_stage._joint_logits(state, d_params, state.d_batch_stats,
                                         encoder_pair, generator_pair)[:2]

    d_loss = lambda d: ali_losses.discriminator_loss(*logits(d, ge)).mean()
    ge_loss = lambda g: ali_losses.vi_generator_loss(
        *logits(state.d_params, g)).mean()
    d_updates, _ = state.d_tx.update(jax.grad(d_loss)(state.d_params),
                                     state.d_opt_state, state.d_params)
    ge_updates, _ = state.ge_tx.update(jax.grad(ge_loss)(ge), state.ge_opt_state,
                                       ge)
    chex.assert_trees_all_close(new.d_params,
                                optax.apply_updates(state.d_params, d_updates),
                                rtol=1e-5, atol=1e-6)
    expected_ge = optax.apply_updates(ge, ge_updates)
    chex.assert_trees_all_close(new.g_params, expected_ge['generator'],
                                rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(new.e_params, expected_ge['encoder'],
                                rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics['d_loss'], d_loss(state.d_params), rtol=1e-6)
    np.testing.assert_allclose(metrics['g_loss'], ge_loss(ge), rtol=1e-6)
    self.assertEqual(int(new.step), 1)
    with self.assertRaisesRegex(ValueError, 'one D update per stage'):
      encoder_stage.ALISchedule(simultaneous=True, d_steps=2)

  @parameterized.parameters(True, False)
  def test_r1_penalty_is_on_d_alone(self, simultaneous):
    # D's loss gains γ/2 times the mean over encoder pairs of ‖∇_{x,z} logit‖²,
    # each example's gradient taken alone; the E/G update is unchanged in the
    # simultaneous stage (alternating E/G face a D the penalty moved).
    gamma = 1000.0  # Large: D's input gradients are small at initialisation.
    plain_schedule = encoder_stage.ALISchedule(
        loss='nonsaturating', noise_input_encoder=True, simultaneous=simultaneous)
    r1_schedule = encoder_stage.ALISchedule(
        loss='nonsaturating', noise_input_encoder=True, simultaneous=simultaneous,
        r1_gamma=gamma)
    state, real = _state('ali', pacgan=True), _real(1)
    state = state.replace(d_params=jax.tree.map(lambda p: 4 * p, state.d_params))
    plain, plain_m = encoder_stage.ali_stage(state, real, plain_schedule)
    r1, r1_m = encoder_stage.ali_stage(state, real, r1_schedule)
    self.assertNotIn('d_r1', plain_m)

    d_key = state_lib.stage_keys(state)['d']
    keys = jax.random.split(d_key, 1) if not simultaneous else [d_key]
    noise = encoder_stage._ali_noise(state, real[0], keys[0], plain_schedule)
    ge = {'encoder': state.e_params, 'generator': state.g_params}
    (x, code), _, _, _ = encoder_stage._ali_pairs(state, ge, real[0], noise)

    def norm(x1, z1):  # One example's squared input-gradient norm, by hand.
      gx, gz = jax.grad(lambda a, b: state.discriminator.apply(
          {'params': state.d_params}, a[None], b[None])[0], argnums=(0, 1))(x1, z1)
      return jnp.sum(gx ** 2) + jnp.sum(gz ** 2)
    expected = jnp.mean(jax.vmap(norm)(x, code))
    self.assertGreater(float(expected), 1e-5)
    np.testing.assert_allclose(r1_m['d_r1'], expected, rtol=1e-5)
    np.testing.assert_allclose(r1_m['d_loss'] - plain_m['d_loss'],
                               gamma / 2 * expected, rtol=1e-4)
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()),
                         r1.d_params, plain.d_params)
    self.assertGreater(max(jax.tree.leaves(moved)), 1e-6)
    if simultaneous:
      for name in ('g_params', 'e_params'):
        chex.assert_trees_all_close(getattr(r1, name), getattr(plain, name),
                                    rtol=1e-6, atol=1e-7)
    with self.assertRaisesRegex(ValueError, 'r1_gamma must be >= 0'):
      encoder_stage.ALISchedule(r1_gamma=-1.0)

  def test_aae_without_adversary_is_an_autoencoder(self):
    # λ large: reconstruction error falls over a few hundred stages.
    schedule = encoder_stage.AAESchedule(recon_lambda=100.0)
    state = _state('aae')
    state, first = train_stages(state, jnp.int32(1), schedule=schedule,
                                sample_real=toy2d.real_sampler('ring8'),
                                batch_size=64, stage_fn=encoder_stage.aae_stage)[:2]
    state, later = train_stages(state, jnp.int32(300), schedule=schedule,
                                sample_real=toy2d.real_sampler('ring8'),
                                batch_size=64, stage_fn=encoder_stage.aae_stage)[:2]
    self.assertLess(float(later['train_reconstruction']),
                    0.2 * float(first['train_reconstruction']))

  def test_fused_stages_trace_once(self):
    schedule = encoder_stage.ALISchedule()
    count = [0]
    original = encoder_stage.ali_stage

    def counting_stage(state, real, schedule):
      count[0] += 1
      return original(state, real, schedule)

    state = _state('ali')
    for n in (1, 3, 2):
      state, _, bad = train_stages(state, jnp.int32(n), schedule=schedule,
                                   sample_real=toy2d.real_sampler('ring8'),
                                   batch_size=BATCH, stage_fn=counting_stage)
      self.assertEqual(int(bad), 0)
    self.assertEqual(int(state.step), 6)
    # Traced once by eval_shape and once in the loop body; not per call.
    self.assertLessEqual(count[0], 2)

  def test_gaussian_output(self):
    module = encoders.GaussianOutput(MLPGenerator(hidden=8, depth=1, out_dim=3,
                                                  batch_norm=False))
    x = jnp.ones((5, 2))
    params = module.init(jax.random.PRNGKey(0), x, train=False)['params']
    np.testing.assert_allclose(params['log_scale'], np.full(3, -2.3))
    mean = module.apply({'params': params}, x, train=False)
    noise = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
    sample = module.apply({'params': params}, x, train=False, noise=noise)
    np.testing.assert_allclose(sample - mean, np.exp(-2.3) * noise, rtol=1e-5,
                               atol=1e-6)

  def test_noise_input_encoder(self):
    module = encoders.NoiseInputEncoder(MLPGenerator(hidden=8, depth=1, out_dim=3,
                                                     batch_norm=False))
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 2))
    params = module.init(jax.random.PRNGKey(1), x, train=False)['params']
    # The MLP sees [x, ε]: twice x's width.
    chex.assert_shape(params['base']['Dense_0']['kernel'], (4, 8))
    apply = lambda **kw: module.apply({'params': params}, x, train=False, **kw)
    noise = jax.random.normal(jax.random.PRNGKey(2), (5, 2))
    np.testing.assert_array_equal(apply(), apply(noise=jnp.zeros((5, 2))))
    self.assertGreater(float(jnp.abs(apply(noise=noise) - apply()).max()), 1e-4)

  @parameterized.parameters(True, False)
  def test_joint_maxout_discriminator_sees_x_and_z(self, embed):
    module = encoders.JointMaxoutDiscriminator(hidden=8, depth=2, pieces=3,
                                               embed=embed)
    x, z = jnp.ones((5, 2)), jnp.ones((5, 3))
    params = module.init(jax.random.PRNGKey(0), x, z, train=False)['params']
    first = {k: v['kernel'].shape for k, v in params.items()
             if k in ('Dense_0', 'Dense_1')}
    # Embedded: one maxout layer each for x and z; raw: one layer on [x, z].
    self.assertEqual(first['Dense_0'], (2, 24) if embed else (5, 24))
    self.assertEqual(first['Dense_1'], (3, 24) if embed else (8, 24))
    chex.assert_shape(module.apply({'params': params}, x, z), (5,))
    grads = jax.grad(lambda x, z: module.apply({'params': params}, x, z).sum(),
                     (0, 1))(x, z)
    for g in grads:
      self.assertGreater(float(jnp.abs(g).max()), 0.0)

  def test_noise_input_encoder_is_not_also_gaussian(self):
    with self.assertRaisesRegex(ValueError, 'already stochastic'):
      encoder_stage.ALISchedule(gaussian_encoder=True, noise_input_encoder=True)


class ImageNetworksTest(absltest.TestCase):

  def test_shapes(self):
    x = jnp.zeros((3, 28, 28, 1))
    z = jnp.zeros((3, 16))
    enc = encoders.DCGANEncoder(image_size=28, latent_dim=16, width=8)
    joint = encoders.JointDCGANDiscriminator(image_size=28, width=8, z_hidden=16,
                                             hidden=32)
    gen = DCGANGenerator(image_size=28, channels=1, width=8)
    key = jax.random.PRNGKey(0)
    chex.assert_shape(enc.apply(enc.init(key, x, train=False), x, train=False),
                      (3, 16))
    chex.assert_shape(joint.apply(joint.init(key, x, z, train=False), x, z,
                                  train=False), (3,))
    chex.assert_shape(gen.apply(gen.init(key, z, train=False), z, train=False),
                      (3, 28, 28, 1))


class LatentMetricsTest(absltest.TestCase):

  def test_mmd_near_zero_for_the_prior_and_positive_for_a_shift(self):
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    a = jax.random.normal(keys[0], (2000, 4))
    b = jax.random.normal(keys[1], (2000, 4))
    same = float(latent.mmd_squared(a, b))
    shifted = float(latent.mmd_squared(a + 0.5, b))
    self.assertLess(abs(same), 2e-3)
    self.assertGreater(shifted, 20 * abs(same))
    self.assertGreater(float(latent.mmd_squared(2 * a, b)), 20 * abs(same))

  def test_moment_distances(self):
    codes = jnp.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 2.0], [-1.0, 2.0]])
    # mean (0, 1); covariance diag(4/3, 4/3) with ddof 1.
    m = latent.moment_distances(codes)
    np.testing.assert_allclose(m.mean_norm, 1.0, rtol=1e-6)
    np.testing.assert_allclose(m.cov_distance, np.sqrt(2 * (1 / 3) ** 2) / np.sqrt(2),
                               rtol=1e-5)

  def test_same_mode_fraction(self):
    means = jnp.array([[0.0, 0.0], [1.0, 0.0]])
    points = jnp.array([[0.01, 0.0], [0.99, 0.0], [0.0, 0.02], [1.0, 0.0]])
    recon = jnp.array([[0.0, 0.01], [0.0, 0.0], [0.0, 0.5], [1.0, 0.01]])
    # sigma 0.05: within 0.15 of the point's own mode: first and last only.
    np.testing.assert_allclose(latent.same_mode_fraction(points, recon, means, 0.05),
                               0.5)


if __name__ == '__main__':
  absltest.main()
