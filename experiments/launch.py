"""What every entry point shares: a recipe from ``--config``, one call, one line out.

Each experiment is ``launch.main(NAME, DEFAULT_RECIPE, train)``: its recipe
comes from ``--config=configs/FILE.py`` (default: the experiment's own) and
any field is set with ``--config.FIELD=value``. The shorthand
``--FIELD=value`` (``--reg_lambda=0``, ``--dataset=grid25``, ``--steps=500``)
means the same for every field of a schema in
:mod:`vi_gen.training.config`; booleans also take ``--FIELD`` and
``--noFIELD``. The flags common to every experiment are defined here once:
``--workdir``, the TFDS ``--data_dir``/``--manual_dir``, and (in
:mod:`experiments.distributed`) ``--distributed``.

A configuration that cannot run (or a workdir another run holds) is one line
on stderr and exit status 2; a non-finite loss or a failed write (a full
disk) is one line and status 1.
SIGTERM or Ctrl-C saves a checkpoint within a chunk of training and ends with
one line and the signal's status (143 or 130); re-running resumes.
"""

import dataclasses
import os
import sys
from typing import Callable, Optional

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

import configs
from experiments import distributed
from experiments import quiet_logs
from vi_gen import checkpoint
from vi_gen.data import images
from vi_gen.training import config as schema
from vi_gen.training import loop
from vi_gen.training import validation

WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Output directory; re-running on it resumes (default: '
    'runs/<model>/<name from the configuration>).')
DATA_DIR = flags.DEFINE_string('data_dir', None,
                               'TFDS data_dir (TFDS default if unset).')
DRY_RUN = flags.DEFINE_boolean(
    'dry_run', False, 'Check the resolved configuration, print it and the '
    'workdir, then exit without training.')
ADOPT = flags.DEFINE_boolean(
    'adopt', False, 'Resume checkpoints whose config.json is missing, under '
    'this configuration (which is then recorded).')
MANUAL_DIR = flags.DEFINE_string(
    'manual_dir', None,
    f'TFDS manual_dir with the original files, for offline MNIST (default: '
    f'${images.MANUAL_DIR_ENV}).')

# Every field of every schema, and which are booleans, for the shorthand.
_FIELDS = {f.name: f.type for s in set(schema.SCHEMAS.values())
           for f in dataclasses.fields(s)}


def shorthand(argv: list[str], defined: set[str]) -> list[str]:
  """``argv`` with ``--FIELD=v`` rewritten to ``--config.FIELD=v``, and
  ``--config=FILE`` moved first.

  Only for schema fields that are not flags in their own right (``defined``).
  """
  out = [argv[0]]
  for arg in argv[1:]:
    name, eq, value = arg[2:].partition('=') if arg.startswith('--') else ('', '', '')
    negated = name.startswith('no') and _FIELDS.get(name[2:]) in (bool, 'bool')
    field = name[2:] if negated else name
    if field in _FIELDS and field not in defined:
      if eq:
        arg = f'--config.{field}={value}'
      elif _FIELDS[field] in (bool, 'bool'):
        arg = f'--config.{field}={"false" if negated else "true"}'
    out.append(arg)
  # ml_collections takes field overrides only after the recipe: --config first.
  recipe = [a for a in out[1:] if a.startswith('--config=')]
  return [out[0], *recipe, *(a for a in out[1:] if a not in recipe)]


def _value(v) -> str:
  if isinstance(v, float):
    return f'{v:.3f}'
  return str(v)


def recipe_help(recipe: str) -> str:
  """The --help text of a recipe: its fields, grouped, with their values."""
  return (f'\nThe default recipe, configs/{recipe}.py. Set any field with '
          f'--FIELD=value;\n--dry_run prints what a command resolves to.\n\n'
          f'{schema.describe(configs.load(recipe))}\n')


def main(program: str, default_recipe: str,
         train: Callable[..., Optional[dict]],
         workdir_name: Callable[[object], str],
         final_line: Callable[[dict], str],
         adjust: Callable[[object], object] = lambda config: config) -> None:
  """Defines ``--config``, parses the command line and runs ``program``.

  Args:
    program: the module, for messages (``experiments.gan``).
    default_recipe: the ``configs/`` recipe without ``--config``.
    train: ``train(config, workdir, data_dir=..., manual_dir=...)``, returning
      the final record (or None if there was nothing to train).
    workdir_name: the default workdir of a configuration.
    final_line: the last line printed, from the final record.
    adjust: applied to the configuration before it runs (e.g. a flag that
      derives a field).
  """
  # config_flags reads the field overrides from the command line when the flag
  # is defined, so the shorthand is rewritten first.
  argv = shorthand(sys.argv, set(flags.FLAGS))
  config_flag = config_flags.DEFINE_config_file(
      'config', configs.path(default_recipe),
      f'The recipe, a file of configs/ (default: {default_recipe}.py). Set '
      f'any field with --config.FIELD=value or the shorthand --FIELD=value.',
      lock_config=True, sys_argv=argv)
  # --help lists the flags every entry point shares, as its own, after the
  # default recipe's fields.
  for name in ('config', 'workdir', 'dry_run', 'adopt', 'data_dir',
               'manual_dir', 'distributed'):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
  main_module = sys.modules['__main__']
  main_module.__doc__ = (main_module.__doc__ or '') + recipe_help(default_recipe)

  def run(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    quiet_logs.install()
    try:
      distributed.maybe_initialize()
      config = adjust(schema.from_dict(config_flag.value))
      workdir = os.path.expanduser(WORKDIR.value or workdir_name(config))
      devices = jax.devices()
      logging.info('JAX %s on %s: %d × %s (%d process(es))', jax.__version__,
                   jax.default_backend(), len(devices), devices[0].device_kind,
                   jax.process_count())
      described = schema.describe(config)
      if DRY_RUN.value:
        validation.validate(config)
        print(f'{program} would run (configuration resolved from --config and '
              f'the flags):\n{described}\nworkdir: {workdir}')
        return
      logging.info('config:\n%s', described)
      logging.info('workdir: %s', workdir)
      if ADOPT.value:
        adopt(config, workdir)
      final = train(config, workdir, data_dir=DATA_DIR.value,
                    manual_dir=MANUAL_DIR.value)
    except schema.ConfigError as e:
      print(f'{program}: error: {e}', file=sys.stderr)
      sys.exit(2)
    except (loop.NonFiniteLossError, loop.OutputError) as e:
      print(f'{program}: error: {e}', file=sys.stderr)
      sys.exit(1)
    except loop.Interrupted as e:
      print(f'{program}: {e}', file=sys.stderr)
      sys.exit(e.exit_status)
    if final is not None:
      print(f'{final_line(final)}; outputs in {workdir}')

  app.run(run, argv=argv)


def adopt(config, workdir: str) -> None:
  """Records ``config`` as the maker of ``workdir``'s checkpoints if their
  config.json is missing (``--adopt``), so that the run resumes them."""
  validation.validate(config)
  if (os.path.exists(checkpoint.config_path(workdir))
      or not checkpoint.checkpoint_steps(workdir)):
    logging.info('--adopt: %s has its config.json or no checkpoints; nothing '
                 'to adopt', workdir)
    return
  checkpoint.write_config(config, workdir)
  logging.warning('--adopt: the checkpoints in %s are resumed as made by this '
                  'configuration', workdir)


def final_scores(record: dict, keys: tuple[str, ...], percent: tuple[str, ...],
                 unit: str) -> str:
  """``final (UNIT N): k v, ...`` for the ``keys`` the record has.

  A many-seed run's record (``seeds``) shows each score's mean ± standard
  error over its seeds, and the seeds that diverged.
  """
  def shown(k):
    if f'{k}_se' in record:
      digits, suffix = (1, '%') if k in percent else (3, '')
      return f'{record[k]:.{digits}f} ± {record[f"{k}_se"]:.{digits}f}{suffix}'
    return f'{record[k]:.1f}%' if k in percent else _value(record[k])
  head = f'{unit} {record["step"]}'
  if not any(k in record for k in keys):
    return f'final ({head}): no scores (this configuration computes none)'
  if 'seeds' in record:
    head += f', mean ± s.e. over {record["seeds"]} seeds'
    if record.get('diverged'):
      head += ('; diverged: ' + ', '.join(
          f'seed {s} at {unit} {b}' for s, b in record['diverged'].items()))
  return (f'final ({head}): '
          + ', '.join(f'{k} {shown(k)}' for k in keys if k in record))


# The GAN, AAE and ALI entry points.

# The scores printed at the end, in this order, where the run has them.
ADVERSARIAL_SCORES = ('modes', 'hq', 'reverse_kl', 'stacked_modes', 'stacked_kl',
                      'fd', 'fd_floor', 'reconstruction', 'recon_same_mode',
                      'recon_accuracy', 'code_mmd')


def seed_part(config) -> str:
  """The workdir's last part: the seed (``seedsA-B`` for a many-seed run),
  after the decay and the average."""
  decay = (config.lr_decay if not config.lr_decay_stages
           else f'{config.lr_decay}_last{config.lr_decay_stages}')
  seed = (f'seed{config.seed}' if getattr(config, 'num_seeds', 1) == 1
          else f'seeds{config.seed}-{config.seed + config.num_seeds - 1}')
  seed = seed if config.lr_decay == 'constant' else f'{decay}_{seed}'
  return f'ema{config.g_ema:g}_{seed}' if config.g_ema else seed


def adversarial_final_line(record: dict) -> str:
  return final_scores(record, ADVERSARIAL_SCORES,
                      ('hq', 'recon_same_mode', 'recon_accuracy'), 'stage')
