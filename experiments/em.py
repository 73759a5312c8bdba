r"""EM for a Gaussian mixture (eqs. 8–11): a built-in 2D dataset, or MNIST.

    python -m experiments.em                                  # ring8, 8 components
    python -m experiments.em --dataset=grid25 --num_components=25
    python -m experiments.em --config=configs/em_mnist.py     # PCA 50, K = 10

k-means++ picks the initial centres; the first M-step uses hard assignments.
The E-step is the exact posterior (responsibilities, in log space), the M-step
closed form; the loop runs as one jitted ``lax.while_loop`` (vi_gen/em.py)
until the mean log-likelihood changes by less than ``tol``. Fields:
:class:`vi_gen.training.config.EMConfig`. Writes metrics.jsonl, summary.json
and for 2D components.png to ``--workdir`` (default
runs/em/<dataset>_k<K>_<covariance>_seed<seed>); see vi_gen/training/em_fit.py.
"""

from experiments import launch
from vi_gen.training import em_fit


def workdir_name(config) -> str:
  return (f'runs/em/{config.dataset}_k{config.num_components}_'
          f'{config.covariance_type}_seed{config.seed}')


def final_line(summary: dict) -> str:
  scores = ', '.join(f'{key} {summary[key]:.4f}' for key in
                     ('train_mean_log_likelihood', 'test_mean_log_likelihood')
                     if key in summary)
  state = 'converged' if summary['converged'] else 'not converged'
  return f'final ({summary["iterations"]} iterations, {state}): {scores}'


if __name__ == '__main__':
  launch.main('experiments.em', 'em_ring8', em_fit.fit_and_evaluate,
              workdir_name, final_line)
