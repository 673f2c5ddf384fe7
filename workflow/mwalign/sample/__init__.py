"""Stage `sample` (workflow/rules/sample.smk): the English corpus every later stage reads.

- :mod:`.corpus`: the job, :func:`~.corpus.sample_corpus`: read the configured source
  (the packaged Bible, a local file, a Hugging Face dataset), normalise, filter by
  length, drop duplicates, take a seeded sample; writes ``results/corpus/en.parquet``
  (:data:`mwalign.tables.CORPUS`) and its stats;
- :mod:`.checks`: the ``corpus`` section's checks: cross-field at every parse, and the
  size against the usable sentences once per run.

Params: the rule passes ``config.corpus`` and ``config.seed`` as they are; every key of
``corpus``, with its default, is declared in mwalign/schemas/config.schema.yaml.
"""
