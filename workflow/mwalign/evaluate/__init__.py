"""The evaluate stage: one job per (model, task), mteb result JSON per job.

Tasks are the project's own offline Bible tasks (:mod:`.bible_tasks`) or any mteb
task by name (:mod:`.mteb_tasks`). Importing this package does not import mteb:
mteb creates its cache folder at import time, so :func:`.caches.import_mteb` points
it into the project first.
"""

from typing import Any

from .settings import OFFLINE_TASKS, check_evaluate_config

# The job's entry points import the evaluation stack (scipy, sentence-transformers) only
# when used: config validation imports this package for its settings alone, also in
# environments without that stack (the vllm virtualenv).
_RUN = ("build_encoder", "build_task", "evaluate_model")


def __getattr__(name: str) -> Any:
    if name in _RUN:
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "OFFLINE_TASKS",
    "build_encoder",
    "build_task",
    "check_evaluate_config",
    "evaluate_model",
]
