"""checkpoint: which recorded configurations a run may resume; state fields added since."""

import dataclasses
import json
import logging as std_logging

from absl.testing import absltest
import flax
import jax.numpy as jnp
import numpy as np

from vi_gen import checkpoint


@dataclasses.dataclass(frozen=True)
class _Config:
  steps: int = 10
  lr: float = 1e-3
  model: str = 'gan'  # a field "added later"


class CheckCompatibleTest(absltest.TestCase):

  def _workdir(self, recorded: dict) -> str:
    workdir = self.create_tempdir().full_path
    with open(checkpoint.config_path(workdir), 'w') as f:
      json.dump(recorded, f)
    return workdir

  def test_mutable_fields_may_change(self):
    workdir = self._workdir({'steps': 5, 'lr': 1e-3, 'model': 'gan'})
    checkpoint.check_compatible(_Config(steps=10), workdir, ('steps',))

  def test_other_fields_may_not(self):
    workdir = self._workdir({'steps': 10, 'lr': 1e-2, 'model': 'gan'})
    with self.assertRaisesRegex(checkpoint.IncompatibleCheckpointError,
                                r'lr=0.01 \(now 0.001\)'):
      checkpoint.check_compatible(_Config(), workdir, ('steps',))

  def test_a_field_added_since_counts_at_its_default(self):
    workdir = self._workdir({'steps': 10, 'lr': 1e-3})  # recorded before `model`
    checkpoint.check_compatible(_Config(), workdir, ())
    with self.assertRaisesRegex(checkpoint.IncompatibleCheckpointError,
                                r"model='gan' \(now 'ali'\)"):
      checkpoint.check_compatible(_Config(model='ali'), workdir, ())

  def test_no_recorded_config(self):
    checkpoint.check_compatible(_Config(), self.create_tempdir().full_path, ())



class OrbaxReportsTest(absltest.TestCase):
  """What a failed save or restore leaves reported, during it and after close."""

  def _fail(self, terminal):
    reports = checkpoint._OrbaxReports()  # pylint: disable=protected-access
    with self.assertRaises(OSError):
      with reports.attempt(terminal=terminal):
        raise OSError('No space left on device')
    return reports

  def _reported(self) -> bool:
    """Whether asyncio's report of an unretrieved task would be logged."""
    logger = std_logging.getLogger('asyncio')
    return bool(logger.filter(logger.makeRecord(
        'asyncio', std_logging.ERROR, '', 0, 'Task exception was never retrieved',
        (), None)))

  def test_after_a_failed_save_unfinished_tasks_stay_quiet_past_close(self):
    reports = self._fail(terminal=True)
    reports.close()  # the save's error ends the process; its tasks die later
    self.assertFalse(self._reported())
    reports.terminal = False  # let this test process report again
    reports.close()

  def test_after_a_failed_restore_reports_resume_at_close(self):
    reports = self._fail(terminal=False)  # the run goes on from an older step
    self.assertFalse(self._reported())  # dropped while it is open
    reports.close()
    self.assertTrue(self._reported())


class _Before(flax.struct.PyTreeNode):
  step: jnp.ndarray
  params: dict


class _After(flax.struct.PyTreeNode):  # _Before with a field added since
  step: jnp.ndarray
  anchor: dict
  params: dict


class RestoreTest(absltest.TestCase):

  def test_a_state_field_added_since_restores_empty_only(self):
    workdir = self.create_tempdir().full_path
    saver = checkpoint.Checkpointer(workdir)
    saver.save(3, _Before(step=jnp.int32(3), params={'w': jnp.arange(4.0)}))
    saver.close()
    reader = checkpoint.Checkpointer(workdir)
    restored = reader.restore(_After(step=jnp.int32(0), anchor={},
                                     params={'w': jnp.zeros(4)}))
    self.assertEqual(int(restored.step), 3)
    self.assertEqual(restored.anchor, {})
    np.testing.assert_array_equal(restored.params['w'], np.arange(4.0))
    # A non-empty added field cannot be made up: the restore refuses.
    with self.assertRaisesRegex(ValueError, 'anchor'):
      reader.restore(_After(step=jnp.int32(0), anchor={'w': jnp.zeros(4)},
                            params={'w': jnp.zeros(4)}))
    reader.close()

  def test_a_renamed_field_restores_from_its_old_name(self):
    # GANState's anchor was saved as `anchor_params` before it became
    # `g_anchor_params`: such a checkpoint resumes into the new name.
    workdir = self.create_tempdir().full_path
    saver = checkpoint.Checkpointer(workdir)
    saver.save(2, _Old(step=jnp.int32(2), anchor_params={'w': jnp.arange(3.0)}))
    saver.close()
    reader = checkpoint.Checkpointer(workdir)
    restored = reader.restore(_New(step=jnp.int32(0),
                                   g_anchor_params={'w': jnp.zeros(3)}))
    reader.close()
    self.assertEqual(int(restored.step), 2)
    np.testing.assert_array_equal(restored.g_anchor_params['w'], np.arange(3.0))


class _Old(flax.struct.PyTreeNode):
  step: jnp.ndarray
  anchor_params: dict


class _New(flax.struct.PyTreeNode):
  step: jnp.ndarray
  g_anchor_params: dict


if __name__ == '__main__':
  absltest.main()
