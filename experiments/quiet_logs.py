"""Keeps an experiment's progress readable: libraries' INFO chatter is dropped."""

import logging as std_logging

from absl import logging

# Library files whose INFO records drown the progress lines (Orbax logs every save
# step by step; JAX reports each accelerator backend it did not find; TFDS
# reports every dataset it opens).
_NOISY_PATHS = ('/orbax/', '/jax/_src/xla_bridge.py', '/tensorflow_datasets/')


class _DropLibraryInfo(std_logging.Filter):

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING
            or not any(p in record.pathname for p in _NOISY_PATHS))


def install() -> None:
  """Filters libraries' INFO records out; warnings still show.

  On absl's handler (the command line) and on the ``absl`` logger itself, whose
  records reach other handlers in a notebook kernel.
  """
  logging.get_absl_handler().addFilter(_DropLibraryInfo())
  std_logging.getLogger('absl').addFilter(_DropLibraryInfo())
