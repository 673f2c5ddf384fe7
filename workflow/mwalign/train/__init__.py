"""Stage `train` (workflow/rules/train.smk): contrastive training of multilingual students
on multi-way or En-X data, one job per configured run and seed.

- :mod:`.params`: :func:`~.params.train_params`, the config slice of one job (job names:
  :mod:`mwalign.jobs`), and what a job's params imply (batch size, dataset file);
- :mod:`.checks`: the ``train`` and ``runs`` sections' checks, at every parse, once per
  run, and first thing in the job;
- :mod:`.job`: :class:`~.job.TrainJob`, one job's params and files, built once by the
  rule's script (or from the command line of :mod:`.__main__`);
- :mod:`.launch`: :func:`~.launch.train_job`, the job: in this process, or as torchrun
  workers on one node;
- :mod:`.trainer`: :func:`~.trainer.train_run`, one process's training on
  sentence-transformers' Trainer, saving a sentence-transformers folder;
- :mod:`.data`, :mod:`.losses`, :mod:`.packing`, :mod:`.callbacks`, :mod:`.card`: the
  training rows and batches, the objectives, padding-free CPU training, loss state and
  curves, the model card.

Importing this package imports nothing: config validation reads :mod:`.params` and
:mod:`.checks` alone, without torch.
"""
