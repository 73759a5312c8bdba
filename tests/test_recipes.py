"""Every recipe of configs/ loads into its schema and passes validation."""

import glob
import os

from absl.testing import absltest
from absl.testing import parameterized

import configs
from experiments import launch
from vi_gen.training import config as config_lib
from vi_gen.training import em_fit

RECIPES = sorted(os.path.basename(p)[:-3]
                 for p in glob.glob(os.path.join(configs.DIR, '*.py'))
                 if not p.endswith('__init__.py'))


class RecipesTest(parameterized.TestCase):

  def test_there_is_a_recipe_for_each_entry_point(self):
    for name in ('gan_ring8', 'ali_ring8', 'aae_ring8', 'vae_mnist', 'em_ring8'):
      self.assertIn(name, RECIPES)

  @parameterized.parameters(*RECIPES)
  def test_loads_and_validates(self, name):
    config = configs.load(name)
    validate = {config_lib.GANConfig: config_lib.validate_gan,
                config_lib.VAEConfig: config_lib.validate_vae,
                config_lib.EMConfig: em_fit.validate_em}[type(config)]
    validate(config)
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


class ShorthandTest(absltest.TestCase):

  def test_fields_become_config_overrides(self):
    argv = ['prog', '--reg_lambda=0', '--workdir=/tmp/w', '--ali_simultaneous',
            '--nobatch_norm', '--config=configs/gan_grid25.py', 'positional']
    self.assertEqual(
        launch.shorthand(argv, defined={'workdir', 'config'}),
        ['prog', '--config.reg_lambda=0', '--workdir=/tmp/w',
         '--config.ali_simultaneous=true', '--config.batch_norm=false',
         '--config=configs/gan_grid25.py', 'positional'])

  def test_a_defined_flag_is_left_alone(self):
    self.assertEqual(launch.shorthand(['p', '--steps=3'], defined={'steps'}),
                     ['p', '--steps=3'])


if __name__ == '__main__':
  absltest.main()
