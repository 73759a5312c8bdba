"""Every recipe of configs/ loads into its schema and passes validation."""

import dataclasses
import glob
import os

from absl.testing import absltest
from absl.testing import parameterized
import pytest

import configs
from experiments import launch
from vi_gen.training import config as config_lib
from vi_gen.training import validation
from tests import shared_data

RECIPES = sorted(os.path.basename(p)[:-3]
                 for p in glob.glob(os.path.join(configs.DIR, '*.py'))
                 if not p.endswith('__init__.py'))


class RecipesTest(parameterized.TestCase):

  def test_there_is_a_recipe_for_each_entry_point(self):
    for name in ('gan_ring8', 'ali_ring8', 'aae_ring8', 'vae_mnist', 'em_ring8'):
      self.assertIn(name, RECIPES)

  @parameterized.parameters(*RECIPES)
  def test_loads_and_validates(self, name):
    validation.validate(configs.load(name))
    module = __import__(f'configs.{name}', fromlist=['get_config'])
    # The docstring names its command, its result and its cost.
    self.assertIn('python -m', module.__doc__)
    self.assertIn('Result', module.__doc__)
    self.assertIn('Cost', module.__doc__)

  def test_overrides_and_unknown_fields(self):
    self.assertEqual(configs.load('gan_ring8', reg_lambda=0.0).reg_lambda, 0.0)
    with self.assertRaisesRegex(config_lib.ConfigError, 'no field no_such_field'):
      configs.load('gan_ring8', no_such_field=1)
    with self.assertRaisesRegex(config_lib.ConfigError, 'has no field nope'):
      config_lib.from_dict({'model': 'gan', 'nope': 1})
    with self.assertRaisesRegex(config_lib.ConfigError, 'unknown model'):
      config_lib.from_dict({'model': 'flow'})

  def test_one_default_per_field(self):
    # The recipe of the default run changes only what it names; every other
    # field is the schema's default.
    config = configs.load('gan_ring8')
    self.assertEqual(config, config_lib.GANConfig(
        reg_lambda=100.0, steps=10_000, lr_decay='cosine', eval_every=1000,
        checkpoint_every=2000))


class FieldGroupsTest(absltest.TestCase):

  def test_every_field_of_every_schema_is_in_one_group(self):
    grouped = [n for names in config_lib.FIELD_GROUPS.values() for n in names]
    self.assertEqual(len(grouped), len(set(grouped)))
    for schema in set(config_lib.SCHEMAS.values()):
      for field in dataclasses.fields(schema):
        self.assertIn(field.name, grouped)

  def test_describe_shows_each_value_in_its_group(self):
    text = config_lib.describe(configs.load('gan_ring8', seed=7))
    self.assertRegex(text, r'schedule: .*steps=10000')
    self.assertIn('seed=7', text)
    self.assertRegex(text, r'objective: +reg_lambda=100.0 anchor=previous')
    self.assertNotIn('other:', text)
    self.assertTrue(all(len(line) <= 80 for line in text.splitlines()))


@pytest.mark.integration
class CommandLineTest(absltest.TestCase):
  """What --help and --dry_run show, as a user runs them."""

  def test_dry_run_prints_the_resolved_configuration_and_trains_nothing(self):
    workdir = os.path.join(self.create_tempdir().full_path, 'w')
    result = shared_data.run_python(
        '-m', 'experiments.gan', '--dry_run', '--reg_lambda=0',
        '--dataset=grid25', f'--workdir={workdir}')
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertIn('dataset=grid25', result.stdout)
    self.assertIn('reg_lambda=0.0', result.stdout)
    self.assertIn(f'workdir: {workdir}', result.stdout)
    self.assertFalse(os.path.exists(workdir))
    # A configuration that cannot run is refused as a training run would be.
    result = shared_data.run_python('-m', 'experiments.vae', '--dry_run',
                                    '--steps=0')
    self.assertEqual(result.returncode, 2)
    self.assertIn('steps must be >= 1', result.stderr)

  def test_help_shows_the_recipe_grouped_and_only_the_entry_points_flags(self):
    # absl's --help exits with status 1.
    result = shared_data.run_python('-m', 'experiments.em', '--help')
    self.assertIn('The default recipe, configs/em_ring8.py', result.stdout)
    self.assertRegex(result.stdout, r'model: +num_components=8')
    for flag in ('--config', '--workdir', '--dry_run', '--data_dir'):
      self.assertIn(flag, result.stdout)
    self.assertNotIn('--test_tmpdir', result.stdout)  # absltest's
    self.assertNotIn('--checkpoint_', result.stdout)  # orbax's


class ShorthandTest(absltest.TestCase):

  def test_fields_become_config_overrides_after_the_recipe(self):
    # ml_collections reads overrides only after --config=FILE: it goes first.
    argv = ['prog', '--reg_lambda=0', '--workdir=/tmp/w', '--ali_simultaneous',
            '--nobatch_norm', '--config=configs/gan_grid25.py', 'positional']
    self.assertEqual(
        launch.shorthand(argv, defined={'workdir', 'config'}),
        ['prog', '--config=configs/gan_grid25.py', '--config.reg_lambda=0',
         '--workdir=/tmp/w', '--config.ali_simultaneous=true',
         '--config.batch_norm=false', 'positional'])

  def test_a_defined_flag_is_left_alone(self):
    self.assertEqual(launch.shorthand(['p', '--steps=3'], defined={'steps'}),
                     ['p', '--steps=3'])


class FinalLineTest(absltest.TestCase):

  def test_scores_in_order_or_none(self):
    record = {'step': 4, 'hq': 96.04, 'modes': 7, 'reverse_kl': 0.5521}
    self.assertEqual(launch.adversarial_final_line(record),
                     'final (stage 4): modes 7, hq 96.0%, reverse_kl 0.552')
    self.assertEqual(launch.adversarial_final_line({'step': 4, 'd_loss': 1.0}),
                     'final (stage 4): no scores (this configuration computes '
                     'none)')


if __name__ == '__main__':
  absltest.main()
