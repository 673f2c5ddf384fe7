"""Threads and priorities of the workflow's jobs: the critical path first, no idle cores.

The critical path of an experiment is fetch_model -> sample -> translate -> assemble ->
train -> evaluate (of the trained models) -> report. Snakemake starts, among the jobs
whose inputs are ready, those of highest ``priority`` that fit the free cores, and fills
the cores left with lower-priority jobs that fit. So:

- the jobs before training (fetch_model, sample, translate, assemble) come first;
- a training job takes the whole machine (up to :data:`MOST_THREADS`): the student's
  activations make it the largest job in memory, so it runs beside nothing heavy;
- the trained models' evaluations share the machine: each takes an equal share of the
  cores (on 2 cores, two one-thread jobs side by side, which waste nothing on thread
  synchronisation);
- a base model's evaluation, ready long before training can start, takes the whole
  machine at the lowest priority: a job that needs every core cannot start while the
  short jobs before training hold one, so it never holds a core that training waits
  for, and it runs when nothing on the critical path is ready.

With ``--cores 2`` this keeps both cores busy but for a few seconds around the teacher,
and the largest memory at one time is one training job's.
"""

from __future__ import annotations

# One job's thread count is capped here: e5/BERT-size encoders gain little beyond it.
MOST_THREADS = 8

PRIORITY = {
    "setup": 30,  # fetch_model, sample, translate, assemble
    "train": 20,  # and the teacher when a run trains from it
    "evaluate_run": 10,
    "teacher": 0,  # when no run needs it: only the final target does
    "evaluate_base": 0,
}


def job_threads(*, cores: int | None, side_by_side: int = 1) -> int:
    """Threads of each of ``side_by_side`` jobs meant to share ``cores`` (``--cores``).

    An equal share, at least 1 and at most :data:`MOST_THREADS`; :data:`MOST_THREADS`
    where the number of cores is not known at planning time (a cluster executor), where
    each job gets its own node share.
    """
    if side_by_side < 1:
        raise ValueError(f"side_by_side must be at least 1, got {side_by_side}")
    if not cores:
        return MOST_THREADS
    return max(1, min(MOST_THREADS, int(cores) // side_by_side))
