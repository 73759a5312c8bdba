"""checkpoint.check_compatible: which recorded configurations a run may resume."""

import dataclasses
import json

from absl.testing import absltest

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


if __name__ == '__main__':
  absltest.main()
