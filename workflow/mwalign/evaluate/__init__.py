"""Stage `evaluate` (workflow/rules/evaluate.smk): one job per (model, task), an mteb result
JSON and the per-item outputs per job.

- :mod:`.params`: :func:`~.params.evaluate_params`, the config slice of one job, and
  :data:`~.params.OFFLINE_TASKS`, the project's own tasks;
- :mod:`.checks`: the ``evaluate`` section's checks, at every parse and once per run;
- :mod:`.run`: the job, :func:`~.run.evaluate_model` (model folder + task + params ->
  ``results/eval/{model}/{task}.json``), and :func:`~.run.build_encoder`;
- :mod:`.bible_tasks`, :mod:`.verses`: the offline Bible tasks and their verse pool;
  :mod:`.mteb_tasks`: any mteb task by name, restricted to the configured languages;
- :mod:`.encoder`, :mod:`.caches`: the caching encoder mteb calls, its embedding store;
- :mod:`.items`: per-item outputs (``{task}.items.parquet``) and the scores they give;
- :mod:`.langcodes`: language codes between the config, mteb and FLORES.

Importing this package imports nothing: config validation reads :mod:`.params` and
:mod:`.checks` alone, also in environments without the evaluation stack. mteb creates
its cache folder at import time, so :func:`.caches.import_mteb` points it into the
project first.
"""
