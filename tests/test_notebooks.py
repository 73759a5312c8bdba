"""The notebooks run: every code cell, at tiny sizes, on mock TFDS data.

Cells tagged ``colab-setup`` (clone and install, in IPython syntax) are skipped;
right after the cell tagged ``parameters`` the test sets tiny runs, as papermill
would. Everything else runs as written, in one namespace, in order.
"""

import json
import os

from absl.testing import absltest
import matplotlib
import numpy as np
import pytest

from tests import shared_data

matplotlib.use('Agg')

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         'notebooks')


def code_cells(path: str) -> list[tuple[list[str], str]]:
  """``(tags, source)`` of each code cell of the notebook at ``path``."""
  with open(path) as f:
    notebook = json.load(f)
  return [(cell['metadata'].get('tags', []), ''.join(cell['source']))
          for cell in notebook['cells'] if cell['cell_type'] == 'code']


@pytest.mark.integration
class ColabTPUNotebookTest(absltest.TestCase):

  def test_every_cell_runs_and_compares_the_arms(self):
    cells = code_cells(os.path.join(NOTEBOOKS, 'colab_tpu.ipynb'))
    self.assertEqual(sum('parameters' in tags for tags, _ in cells), 1)
    tiny = dict(
        STEPS=2, EVAL_EVERY=1, SEEDS=(0, 1),
        OVERRIDES=dict(g_hidden=8, g_depth=1, d_hidden=4, d_depth=1, d_pieces=2,
                       batch_size=8, eval_samples=50),
        IMAGE_STEPS=1,
        IMAGE_OVERRIDES=dict(width=4, batch_size=8, latent_dim=8, eval_every=1,
                             checkpoint_every=1, eval_samples=48),
        WORKDIR=self.create_tempdir().full_path)
    namespace = {'__name__': '__main__'}
    with shared_data.mock_tfds():
      for tags, source in cells:
        if 'colab-setup' in tags:
          continue
        exec(compile(source, 'colab_tpu.ipynb', 'exec'), namespace)  # pylint: disable=exec-used
        if 'parameters' in tags:
          self.assertContainsSubset(set(tiny), set(namespace))
          namespace.update(tiny)

    runs_2d = namespace['runs_2d']
    self.assertEqual(set(runs_2d), {(lam, seed) for lam in namespace['LAMBDAS']
                                    for seed in (0, 1)})
    configs = {}
    for key, (workdir, final) in runs_2d.items():
      self.assertEqual(final['step'], 2)
      self.assertTrue(np.isfinite([final['modes'], final['hq'],
                                   final['reverse_kl']]).all())
      with open(os.path.join(workdir, 'config.json')) as f:
        configs[key] = json.load(f)
      self.assertEqual(configs[key]['g_hidden'], 8)
    # The arms differ in λ and nothing else.
    self.assertEqual(configs[namespace['LAMBDAS'][1], 0]['reg_lambda'],
                     namespace['LAMBDAS'][1])
    self.assertEqual({**configs[namespace['LAMBDAS'][0], 0], 'reg_lambda': None},
                     {**configs[namespace['LAMBDAS'][1], 0], 'reg_lambda': None})

    runs_images = namespace['runs_images']
    self.assertEqual(set(runs_images), set(namespace['IMAGE_LAMBDAS']))
    for _, final in runs_images.values():
      self.assertEqual(final['step'], 1)
      self.assertGreater(final['fd'], 0)


if __name__ == '__main__':
  absltest.main()
