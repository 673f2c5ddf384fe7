"""Stage `translate` (workflow/rules/translate.smk): one job per (language, shard), three
backends, quality flags; the optional similarity check and CTranslate2 conversion.

- :mod:`.params`: the config slice of each translate, similarity and convert job;
- :mod:`.checks`: the ``translate`` section's checks, at every parse;
- :mod:`.shard`: the job, :func:`~.shard.translate_shard`: translate one shard,
  resumably (:mod:`.store`), in length-sorted batches (:mod:`.batching`), with flags
  (:mod:`.flags`), and write it with its stats;
- :mod:`.backends`: reference (human translations of the Bible), transformers,
  ctranslate2 and vllm, with :mod:`.prompts`, :mod:`.sources` and :mod:`.hf_models`;
- :mod:`.similarity`: the similarity rule's job, cosine of source and translation;
- :mod:`.convert`: the convert_ctranslate2 rule's job.
"""
