"""The ctranslate2 backend: NLLB-200, M2M100 and Marian models on CTranslate2 (OpenNMT).

The model is converted once by the ``convert_ctranslate2`` rule
(:func:`mwalign.translate.convert.convert_model`); a shard job only loads the converted
folder, quantised to ``compute_type`` at load time (``auto``: int8 on CPU, float16 on
GPU, float32 where the device has neither). Tokenisation, language codes, source
truncation and per-row token caps are the transformers backend's, so both backends
translate the same inputs under the same limits; with float32 weights and greedy
decoding they give the same tokens.

Batches come from the shard's length-sorted token-budget batcher
(:mod:`mwalign.translate.batching`), since a batch is also the unit that is persisted
for resuming; each one is handed to ``translate_batch`` whole (``max_batch_size=0``):
CTranslate2's own length sorting would only re-sort rows that are already sorted.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mwalign.translate.backends.transformers_backend import TransformersBackend
from mwalign.translate.convert import INFO_FILE, TOKENIZER_DIR, converted_dir, read_converted_info

log = logging.getLogger(__name__)

AUTO_COMPUTE_TYPES = {"cpu": "int8", "cuda": "float16"}


def pick_device() -> str:
    """cuda where CTranslate2 sees a GPU (the job was given one), else cpu."""
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def pick_compute_type(name: str, device: str) -> str:
    """``name``, or for ``auto`` int8 (CPU) / float16 (GPU) where supported, else float32.

    Chosen on the machine that runs the job, so a CPU without int8 kernels still runs.
    """
    import ctranslate2

    supported = ctranslate2.get_supported_compute_types(device)
    if name != "auto":
        if name not in supported:
            raise ValueError(
                f"translate.ctranslate2.compute_type is {name!r}, which this {device} does not "
                f"support; supported here: {', '.join(sorted(supported))} (or auto)"
            )
        return name
    wanted = AUTO_COMPUTE_TYPES[device]
    return wanted if wanted in supported else "float32"


def job_threads() -> int:
    """The job's thread count (:func:`mwalign.runner.start_job` sets torch's to the rule's)."""
    import torch

    return max(1, torch.get_num_threads())


class CTranslate2Backend(TransformersBackend):
    """Shares the transformers backend's tokenizer methods; replaces model and generation."""

    name = "ctranslate2"

    def __init__(self, settings: dict, lang: str, seed: int) -> None:
        from transformers import AutoTokenizer

        self.settings = settings
        self.lang = lang
        self.seed = seed
        self.family = settings["family"]
        self.model = settings["model"]
        self.folder = Path(converted_dir(self.model))
        if not (self.folder / INFO_FILE).exists():
            raise FileNotFoundError(
                f"{self.folder} holds no converted model of {self.model!r}; the "
                "convert_ctranslate2 rule makes it (snakemake converts it before translating)"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder / TOKENIZER_DIR)
        self.template = None
        self.forced_bos: int | None = None
        self.generated_tokens = 0
        self.device = pick_device()
        self.compute_type = pick_compute_type(settings["compute_type"], self.device)
        self.threads = job_threads()
        self._translator = None
        self._set_seq2seq_languages()  # NLLB/M2M100: source code, target token (or error)
        self.prefix = (
            None
            if self.forced_bos is None
            else self.tokenizer.convert_ids_to_tokens(self.forced_bos)
        )

    @property
    def translator(self):
        """The CTranslate2 translator, loaded on first use (a resumed shard may not need it)."""
        if self._translator is None:
            import ctranslate2

            ctranslate2.set_random_seed(self.seed)
            self._translator = ctranslate2.Translator(
                str(self.folder),
                device=self.device,
                compute_type=self.compute_type,
                intra_threads=self.threads,
                inter_threads=1,
            )
            log.info(
                "loaded %s on %s (%s, %d threads)",
                self.folder, self.device, self.compute_type, self.threads,
            )  # fmt: skip
        return self._translator

    def load(self) -> None:
        _ = self.translator

    def translate(self, texts: list[str], refs: list[str]) -> list[str]:
        """Greedy (or beam) translations of one batch, each row cut to its own token cap."""
        caps = self._token_caps(texts)  # counts the target-language token, as transformers
        source = [self.tokenizer.convert_ids_to_tokens(ids) for ids in self._encode(texts)]
        prefix = [[self.prefix]] * len(texts) if self.prefix else None
        results = self.translator.translate_batch(
            source,
            target_prefix=prefix,
            beam_size=self.settings["num_beams"],
            max_decoding_length=max(caps),
            max_input_length=0,  # sources were truncated (or skipped) before batching
            max_batch_size=0,  # the batch as the token-budget batcher made it
        )
        rows = [result.hypotheses[0][:cap] for result, cap in zip(results, caps, strict=True)]
        self.generated_tokens += sum(map(len, rows))
        ids = [self.tokenizer.convert_tokens_to_ids(tokens) for tokens in rows]
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)

    def provenance(self) -> dict:
        import ctranslate2

        return {
            "model": self.model,
            "family": self.family,
            "converted": str(Path(self.folder)),
            "source": read_converted_info(self.folder)["source"],
            "ctranslate2": ctranslate2.__version__,
            "device": self.device,
            "compute_type": self.compute_type,
            "intra_threads": self.threads,
            "num_beams": self.settings["num_beams"],
        }
