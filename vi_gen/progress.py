"""Progress lines for long loops: done/total, elapsed time, ETA and rate.

One ``absl.logging`` line at most every ``every_secs`` (and at the end), so it
reads the same in a terminal, a log file and a notebook; tqdm formats it::

    stage 2300/10000: 23%, 00:21 elapsed, ETA 01:11, 108.0 stages/s
"""

import time
from typing import Optional

from absl import logging
from tqdm import tqdm

# How often a long loop reports, in seconds.
EVERY_SECS = 10.0


class Progress:
  """Call with the count done so far; logs once ``every_secs`` have passed.

  ``what`` leads the line, ``units`` (plural) names the rate's unit.
  ``start`` is the count the loop resumed from: the rate and the ETA use only
  what was done since, in this process.
  """

  def __init__(self, what: str, total: int, units: str, *, start: int = 0,
               every_secs: Optional[float] = None):
    self.what, self.total, self.units, self.start = what, total, units, start
    self.every_secs = EVERY_SECS if every_secs is None else every_secs
    self.t0 = self.last = time.perf_counter()

  def line(self, done: int, now: Optional[float] = None) -> str:
    elapsed = (time.perf_counter() if now is None else now) - self.t0
    return tqdm.format_meter(
        done, self.total, elapsed, unit=f' {self.units}', initial=self.start,
        bar_format=(f'{self.what} {{n}}/{{total}}: {{percentage:.0f}}%, '
                    '{elapsed} elapsed, ETA {remaining}, {rate_noinv_fmt}'))

  def __call__(self, done: int, *, force: bool = False, suffix: str = '') -> bool:
    """Logs the line, then ``suffix``, if it is due (or ``force``); returns
    whether it did."""
    now = time.perf_counter()
    if not force and now - self.last < self.every_secs:
      return False
    self.last = now
    logging.info('%s%s', self.line(done, now), suffix)
    return True


def chunk(every: int, granularity: int = 1) -> int:
  """Steps per chunk of a loop that evaluates ``every`` steps: a hundredth of
  that, at least ``granularity`` and a multiple of it.

  A function of the configuration alone, so a resumed run cuts its chunks
  where an uninterrupted one does and averages the same float32 numbers.
  """
  return max(granularity, every // 100 // granularity * granularity)
