"""Test-wide settings: compile fast, stay on the CPU."""

import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # pylint: disable=g-import-not-at-top

# Unit tests use tiny shapes; XLA's optimisation passes would dominate their time.
jax.config.update('jax_disable_most_optimizations', True)

from absl import flags  # pylint: disable=g-import-not-at-top

# absltest's create_tempdir reads --test_tmpdir; under pytest nobody parses flags.
flags.FLAGS.mark_as_parsed()
