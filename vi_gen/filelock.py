"""An exclusive advisory lock on a local file, for processes on one host."""

import contextlib
import fcntl


@contextlib.contextmanager
def locked(path: str):
  """Holds an exclusive ``flock`` on ``path`` (created if absent) for the block."""
  with open(path, 'a') as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)
