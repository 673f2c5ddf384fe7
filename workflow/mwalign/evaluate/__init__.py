"""The evaluate stage: one job per (model, task), mteb result JSON per job.

Tasks are the project's own offline Bible tasks (:mod:`.bible_tasks`) or any mteb
task by name (:mod:`.mteb_tasks`). Importing this package does not import mteb:
mteb creates its cache folder at import time, so :func:`.caches.import_mteb` points
it into the project first.
"""

from .run import build_encoder, build_task, evaluate_model
from .settings import OFFLINE_TASKS, check_evaluate_config

__all__ = [
    "OFFLINE_TASKS",
    "build_encoder",
    "build_task",
    "check_evaluate_config",
    "evaluate_model",
]
