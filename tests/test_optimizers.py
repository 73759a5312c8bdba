"""optimizers.iwae_adam against a transcription of Burda et al.'s Theano updates."""

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vi_gen.training import optimizers


def _theano_adam(theta, grads, lrs, b1=0.99, b2=0.999):
  """yburda/iwae's Adam as Theano runs it: every shared variable's update is
  computed from the old values, then all are assigned (descent here)."""
  m, v, t = np.zeros_like(theta), np.ones_like(theta), 1.0
  path = []
  for g, lr in zip(grads, lrs):
    alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    theta, m, v, t = (theta - alpha * m / (np.sqrt(v) + 1e-4),
                      b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g, t + 1)
    path.append(theta)
  return path


class IWAEAdamTest(absltest.TestCase):

  def test_matches_the_released_update_rule(self):
    rng = np.random.default_rng(0)
    theta0 = rng.normal(size=(3, 4)).astype(np.float32)
    grads = rng.normal(size=(6, 3, 4)).astype(np.float32)
    schedule = optax.piecewise_constant_schedule(1e-2, {3: 0.5})
    lrs = [float(schedule(i)) for i in range(6)]
    expected = _theano_adam(theta0.astype(np.float64), grads, lrs)

    tx = optimizers.iwae_adam(schedule)
    params = {'w': jnp.asarray(theta0)}
    state = tx.init(params)
    chex.assert_trees_all_equal(state.nu, {'w': jnp.ones((3, 4))})
    update = jax.jit(tx.update)
    for i, g in enumerate(grads):
      updates, state = update({'w': jnp.asarray(g)}, state, params)
      params = optax.apply_updates(params, updates)
      if i == 0:  # the first update uses the zero first moments
        np.testing.assert_array_equal(params['w'], theta0)
      np.testing.assert_allclose(params['w'], expected[i], rtol=1e-5, atol=1e-7)
    self.assertEqual(int(state.count), 6)

  def test_minimises_a_quadratic(self):
    tx = optimizers.iwae_adam(0.05)
    params = jnp.array([3.0, -2.0])
    state = tx.init(params)
    grad = jax.grad(lambda p: jnp.sum(p ** 2))
    for _ in range(2000):
      updates, state = tx.update(grad(params), state)
      params = optax.apply_updates(params, updates)
    self.assertLess(float(jnp.abs(params).max()), 0.05)


if __name__ == '__main__':
  absltest.main()
