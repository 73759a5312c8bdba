"""Advisory locks on local files (``flock``), for processes on one host.

:func:`locked` waits for a lock shared by cooperating writers (a benchmark's
run record); :func:`exclusive` is a workdir's one-writer lock, refused at once
when another live process holds it. ``flock`` locks end with their process,
however it ends, so a run killed with ``kill -9`` leaves no lock behind; the
holder's description it leaves in the file is reported as stale.
"""

import contextlib
import datetime
import fcntl
import os
import socket
import sys

from absl import logging


class BusyError(RuntimeError):
  """Another process holds the lock."""


@contextlib.contextmanager
def locked(path: str):
  """Holds an exclusive ``flock`` on ``path`` (created if absent) for the block."""
  with open(path, 'a') as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def _holder() -> str:
  started = datetime.datetime.now().astimezone().isoformat(timespec='seconds')
  command = ' '.join([os.path.basename(sys.executable), *sys.argv])[:200]
  return f'process {os.getpid()} on {socket.gethostname()} since {started} ({command})'


@contextlib.contextmanager
def exclusive(path: str):
  """Holds ``path``'s lock for the block, or raises at once if it is held.

  The file names the holder while it is held and is emptied on release; a
  description found on taking the lock is from a holder that died, and is
  logged as such.

  Raises:
    BusyError: naming the holder, if another process holds the lock.
  """
  f = open(path, 'a+')  # pylint: disable=consider-using-with
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.seek(0)
    holder = f.read().strip() or 'another process'
    f.close()
    raise BusyError(holder) from None
  try:
    f.seek(0)
    if stale := f.read().strip():
      logging.info('%s was left by a run that ended without releasing it (%s); '
                   'taking it over', path, stale)
    f.truncate(0)
    f.write(_holder() + '\n')
    f.flush()
    yield
  finally:
    f.truncate(0)
    fcntl.flock(f, fcntl.LOCK_UN)
    f.close()
