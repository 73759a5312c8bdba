"""Many seeds, one program: a bundle of train states trained by ``jax.vmap``.

A *bundle* is N train states of one configuration but different seeds,
stacked leaf by leaf along a new leading axis (:func:`stack`). Their static
structure (networks, optimisers) is shared, so the stage functions of
:mod:`vi_gen.training.stage` and :mod:`vi_gen.training.encoder_stage` run on
all N at once under ``jax.vmap``: one compile and one dispatch per call, and
N-times-larger matrix products. Seed k of a bundle computes what the
single-seed run with seed k computes (``tests/test_seeds.py``).

:class:`BundleTask` is the :class:`vi_gen.training.loop.Task` of a bundle:
``experiments.gan/ali/aae --num_seeds=N`` train seeds ``seed … seed+N−1`` with
it (:func:`vi_gen.training.adversarial.train_and_evaluate`). The loop
checkpoints the whole bundle (a :class:`Bundle`) and resumes it.

Faults:

* **A seed whose loss stops being finite is frozen and reported**; the others
  train on. It keeps the state of its first non-finite stage (the state a
  single-seed run stops with), is neither trained nor scored again, and
  :attr:`Bundle.bad_step` (checkpointed) records that stage. Its
  ``metrics.jsonl`` ends with ``{"step": STAGE, "diverged": true}`` and the
  run's records list it under ``diverged``. Only when every seed has diverged
  does the run stop with :class:`vi_gen.training.loop.NonFiniteLossError`.
* **Memory** is estimated before training from XLA's own memory analysis of
  the compiled training call (arguments, outputs and temporaries, less what
  donation lets the outputs reuse) and the bundle's size, against the
  device's free memory (on CPU: the host's available memory). A bundle that
  does not fit is a :class:`vi_gen.training.config.ConfigError` naming both
  figures, before its first stage.
"""

import functools
import os
from typing import Any, Optional, Sequence

from absl import logging
import flax
from flax.metrics import tensorboard
import jax
import jax.numpy as jnp
import numpy as np

from vi_gen import parallel
from vi_gen import records
from vi_gen import xla
from vi_gen.data import toy2d
from vi_gen.training import build
from vi_gen.training import loop
from vi_gen.training import stage as stage_lib
from vi_gen.training.config import ConfigError

GiB = 2**30


def stack(states: Sequence) -> Any:
  """The bundle of ``states`` (one configuration, different seeds)."""
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def unstack(bundle, num_seeds: int) -> list:
  """The ``num_seeds`` states of ``bundle``, in order."""
  return [jax.tree.map(lambda leaf, i=i: leaf[i], bundle) for i in range(num_seeds)]


@flax.struct.dataclass
class Bundle:
  """What a many-seed run trains and checkpoints.

  ``states``: the stacked train states; ``bad_step``: each seed's first stage
  with a non-finite loss, 0 while it trains.
  """
  states: Any
  bad_step: jax.Array

  @property
  def step(self) -> jax.Array:
    """The stage the seeds still training have reached."""
    return jnp.max(jnp.where(self.bad_step == 0, self.states.step, 0))


def bundle_of(states: Sequence) -> Bundle:
  return Bundle(states=stack(states), bad_step=jnp.zeros(len(states), jnp.int32))


@functools.partial(xla.jit, static_argnames=('schedule', 'sample_real', 'batch_size',
                                             'stage_fn'),
                   donate_argnums=0)
def train_stages_many(states, num_stages: jax.Array, *, schedule, sample_real,
                      batch_size: int, stage_fn=stage_lib.gan_stage):
  """Up to ``num_stages`` stages of every seed of ``states``, in one program.

  :func:`vi_gen.training.stage.train_stages` under ``jax.vmap``.

  Args:
    states: stacked states (:func:`stack`), donated.
    num_stages: how many stages to run, one number for all seeds or one per
      seed (0 leaves a seed as it is); traced, so no re-compilation.
    schedule, sample_real, batch_size, stage_fn: as for
      :func:`vi_gen.training.stage.train_stages`.

  Returns:
    ``(states, metrics, bad_step)``, each with a leading seed axis: the
    metrics averaged over each seed's stages, and each seed's first stage
    with a non-finite loss (0 if none). A seed with a non-finite loss keeps
    the state of that stage, as a single-seed run stops with it (under
    ``vmap`` its loop condition turns false and its carry is held), while
    the others run all their stages.
  """
  num_seeds = jax.tree.leaves(states)[0].shape[0]
  num_stages = jnp.broadcast_to(jnp.asarray(num_stages, jnp.int32), (num_seeds,))
  train = functools.partial(stage_lib.train_stages.__wrapped__, schedule=schedule,
                            sample_real=sample_real, batch_size=batch_size,
                            stage_fn=stage_fn)
  return jax.vmap(train)(states, num_stages)


@functools.partial(xla.jit, static_argnames=('real_shape', 'schedule', 'stage_fn'))
def zero_totals_many(states, real_shape: tuple, schedule, stage_fn):
  """:func:`vi_gen.training.stage.zero_totals` for each seed of ``states``."""
  return jax.vmap(functools.partial(
      stage_lib.zero_totals.__wrapped__, real_shape=real_shape, schedule=schedule,
      stage_fn=stage_fn))(states)


@functools.partial(xla.jit, static_argnames=('schedule', 'stage_fn', 'batching'),
                   donate_argnums=(0, 2))
def train_stage_on_batch_many(states, real: jax.Array, totals, active: jax.Array,
                              *, schedule, stage_fn=stage_lib.gan_stage,
                              batching: str = 'vmap'):
  """:func:`vi_gen.training.stage.train_stage_on_batch` for every seed.

  ``real`` has a leading seed axis (each seed's own batch). A seed that is
  not ``active``, or whose totals already hold a non-finite stage, keeps its
  state and totals: like :func:`train_stages_many`, a seed stops at its first
  non-finite stage.

  ``batching``: ``vmap`` batches the seeds' products (a convolution becomes
  one grouped convolution); ``unroll`` writes each seed's stage into the one
  program separately. :func:`image_batching` picks one per backend.
  """
  def one(state, real, totals, active):
    new = stage_lib.train_stage_on_batch.__wrapped__(
        state, real, totals, schedule=schedule, stage_fn=stage_fn)
    go = active & (totals[2] == 0)
    return jax.tree.map(lambda n, o: jnp.where(go, n, o), new, (state, totals))
  if batching == 'unroll':
    n = active.shape[0]
    outs = [one(*jax.tree.map(lambda x, i=i: x[i], (states, real, totals, active)))
            for i in range(n)]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
  return jax.vmap(one)(states, real, totals, active)


def image_batching() -> str:
  """How :class:`BundleTask` batches image seeds on this backend.

  On CPU ``unroll``: there XLA's grouped convolutions made the vmapped exp1
  DCGAN stage slower than its seeds one by one (4.6 against 8.0 seed·stages/s
  unrolled, N = 5, 2 cores), while the unrolled program is as fast as they
  are with one dispatch per stage; elsewhere ``vmap``.
  """
  return 'unroll' if jax.default_backend() == 'cpu' else 'vmap'


def available_bytes() -> int:
  """Free memory on the first local device (on CPU, the host's available memory)."""
  stats = jax.local_devices()[0].memory_stats()
  if stats and 'bytes_limit' in stats:
    return int(stats['bytes_limit'] - stats.get('bytes_in_use', 0))
  return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')


def tree_bytes(tree) -> int:
  return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def check_fits(num_seeds: int, state_bytes: int) -> None:
  """Refuses a bundle whose states alone exceed the free memory."""
  need, have = num_seeds * state_bytes, available_bytes()
  if need > have:
    raise ConfigError(
        f'{num_seeds} seeds need {need / GiB:.2f} GiB for their train states alone '
        f'and {have / GiB:.2f} GiB is free; use fewer --num_seeds')


def compile_checked(jitted, num_seeds: int, *args, **static):
  """``jitted`` compiled for ``args``, refused if XLA's estimate exceeds free memory.

  The estimate is XLA's memory analysis of the compiled call: arguments,
  outputs and temporaries, less the outputs that reuse donated arguments. The
  arguments are already in memory, so the call needs the rest.
  """
  compiled = jitted.lower(*args, **static).compile()
  analysis = compiled.memory_analysis()
  if analysis is not None:
    extra = (analysis.output_size_in_bytes + analysis.temp_size_in_bytes
             - analysis.alias_size_in_bytes)
    if extra > (have := available_bytes()):
      raise ConfigError(
          f'{num_seeds} seeds need about {extra / GiB:.2f} GiB beyond their '
          f'states for one training call (XLA\'s memory analysis of the '
          f'compiled call) and {have / GiB:.2f} GiB is free; use fewer --num_seeds')
  return compiled


def mean_se(values: Sequence[float]) -> tuple[float, float]:
  """Mean and standard error of the mean (0 for a single value)."""
  v = np.asarray(values, np.float64)
  se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
  return float(v.mean()), se


class BundleTask:
  """The :class:`vi_gen.training.loop.Task` of a many-seed run.

  Built from one single-seed task per seed (a
  :class:`vi_gen.training.adversarial.Toy2DTask` or ``ImageTask``, each with its
  own seed's configuration): those supply each seed's data, evaluation and
  pictures. Each seed's records, pictures and TensorBoard events go to
  ``WORKDIR/seed<S>/`` as a single run writes them; the loop's record (the
  run's ``metrics.jsonl``) holds, per evaluation, each score's mean over the
  seeds still training and its standard error (``<score>_se``), the training
  losses' means, ``seeds`` (how many were scored) and ``diverged`` (seed →
  first non-finite stage).
  """

  unit = 'stage'

  def __init__(self, tasks: Sequence, seeds: Sequence[int], workdir: str, lead: bool):
    self.tasks = list(tasks)
    self.seeds = list(seeds)
    self.config = tasks[0].config
    self.mesh = tasks[0].mesh
    self.dirs = [os.path.join(workdir, f'seed{s}') for s in seeds]
    self.lead = lead
    self.writers = None
    self.compiled = None
    self.seed_stages, self.seed_sums = None, {}
    self.reported = set()

  def start(self, bundle: Bundle) -> None:
    n = len(self.seeds)
    states = unstack(bundle.states, n)
    first = self.tasks[0]
    first.start(states[0])
    for task, state in zip(self.tasks[1:], states[1:]):
      task.start(state, like=first) if self.config.is_image else task.start(state)
    if self.lead:
      for d in self.dirs:
        os.makedirs(d, exist_ok=True)
        try:
          records.truncate_metrics(os.path.join(d, 'metrics.jsonl'),
                                   int(bundle.step))
        except records.DamagedRecordsError as e:
          raise ConfigError(str(e)) from None
      self.writers = [tensorboard.SummaryWriter(d) for d in self.dirs]
    self.reported = {int(s) for s, b in zip(self.seeds, jax.device_get(bundle.bad_step))
                     if b}
    self.seed_stages, self.seed_sums = np.zeros(n), {}

  def _active(self, bundle: Bundle) -> np.ndarray:
    return np.asarray(jax.device_get(bundle.bad_step)) == 0

  def checked_state(self, bundle: Bundle):
    """What the loop checks for NaN before a save: the seeds still training
    (a diverged seed keeps the state it diverged with)."""
    active = self._active(bundle)
    return jax.tree.map(lambda x: x[active], bundle.states)

  def advance(self, bundle: Bundle, num: int):
    c = self.config
    active = self._active(bundle)
    schedule, stage_fn = build.schedule(c), build.stage_fn(c)
    if not c.is_image:
      nums = parallel.replicate(np.where(active, num, 0).astype(np.int32), self.mesh)
      static = dict(schedule=schedule, sample_real=toy2d.real_sampler(c.dataset),
                    batch_size=c.batch_size, stage_fn=stage_fn)
      if self.compiled is None:
        self.compiled = compile_checked(train_stages_many, len(self.seeds),
                                        bundle.states, nums, **static)
      states, metrics, bad = self.compiled(bundle.states, nums)
      counts = np.where(active, num, 0)
    else:
      real_shape = self.tasks[0].real_shape
      totals = zero_totals_many(bundle.states, real_shape, schedule, stage_fn)
      go = parallel.replicate(active, self.mesh)
      states = bundle.states
      for _ in range(num):
        real = parallel.shard_batch(
            np.stack([next(t.batches)['image'] for t in self.tasks]), self.mesh,
            batch_axis=2)
        if self.compiled is None:
          self.compiled = compile_checked(
              train_stage_on_batch_many, len(self.seeds), states, real, totals, go,
              schedule=schedule, stage_fn=stage_fn, batching=image_batching())
        states, totals = self.compiled(states, real, totals, go)
      sums, count, bad = jax.device_get(totals)
      metrics = {k: v / np.maximum(count, 1) for k, v in sums.items()}
      counts = np.where(active, count, 0)
    metrics, bad = jax.device_get((metrics, bad))
    bad = np.where(active, bad, jax.device_get(bundle.bad_step)).astype(np.int32)
    bundle = Bundle(states=states, bad_step=parallel.replicate(bad, self.mesh))
    healthy = active & (bad == 0)
    for k, v in metrics.items():  # per-seed sums for the seeds' own records
      self.seed_sums.setdefault(k, np.zeros(len(self.seeds)))
      self.seed_sums[k] += np.where(healthy, np.asarray(v) * counts, 0)
    self.seed_stages += np.where(healthy, counts, 0)
    host = {'step': int(jax.device_get(bundle.step)), 'count': num,
            'metrics': {k: float(np.mean(np.asarray(v)[healthy])) if healthy.any()
                        else float('nan') for k, v in metrics.items()},
            'bad_step': 0 if healthy.any() else int(bad[bad > 0].min())}
    self._report_divergence(bad)
    return bundle, host

  def _report_divergence(self, bad: np.ndarray) -> None:
    for seed, d, stage in zip(self.seeds, self.dirs, bad):
      if stage and seed not in self.reported:
        self.reported.add(seed)
        logging.warning('seed %d: non-finite loss at stage %d; it is frozen there '
                        'and no longer scored; the other seeds train on.',
                        seed, stage)
        if self.lead:
          records.append(os.path.join(d, 'metrics.jsonl'),
                         {'step': int(stage), 'diverged': True})

  def evaluate(self, bundle: Bundle, step: int, workdir: Optional[str],
               writer) -> dict:
    del writer  # each seed writes its own events; the loop writes the summary
    bad = np.asarray(jax.device_get(bundle.bad_step))
    states = unstack(bundle.states, len(self.seeds))
    per_seed = []
    for k, (task, state) in enumerate(zip(self.tasks, states)):
      if bad[k]:
        continue
      seed_dir = self.dirs[k] if workdir is not None else None
      scores = task.evaluate(state, step, seed_dir,
                             self.writers[k] if self.writers else loop.NullWriter())
      train = {name: float(total[k] / max(self.seed_stages[k], 1))
               for name, total in self.seed_sums.items()}
      record = {'step': step, **scores, **train}
      if seed_dir is not None:
        records.append(os.path.join(seed_dir, 'metrics.jsonl'), record)
        loop.write_scalars(self.writers[k], record, scores)
      per_seed.append(scores)
    self.seed_stages[:] = 0
    self.seed_sums = {}
    summary = {}
    for name in per_seed[0]:
      values = [s[name] for s in per_seed]
      if all(isinstance(v, (int, float)) for v in values):
        summary[name], summary[f'{name}_se'] = mean_se(values)
    summary['seeds'] = len(per_seed)
    summary['diverged'] = {str(s): int(b) for s, b in zip(self.seeds, bad) if b}
    return summary

  def describe(self, record: dict) -> str:
    diverged = (f', {len(record["diverged"])} diverged' if record['diverged']
                else '')
    means = {k: round(v, 3) if isinstance(v, float) else v
             for k, v in record.items()}
    return (self.tasks[0].describe(means)
            + f'  (means over {record["seeds"]} seeds{diverged})')

  def close(self) -> None:
    for w in self.writers or ():
      w.close()

