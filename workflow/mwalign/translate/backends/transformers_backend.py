"""The transformers backend: seq2seq NMT models and prompted causal LMs, on CPU or GPU.

Seq2seq: NLLB-200 (FLORES-200 codes, the target code forced as first token), M2M100
(its own codes, forced likewise) and Marian (one model per language pair). Causal LMs
get the prompt templates of :mod:`mwalign.translate.prompts` (shared with vllm), left
padding, and their output cut at the template's stop sequences.
"""

from __future__ import annotations

import logging
import math

from mwalign.languages import language
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.translate import prompts
from mwalign.translate.hf_models import load_model, load_tokenizer, pick_dtype, translator_source

log = logging.getLogger(__name__)


class TransformersBackend:
    name = "transformers"

    def __init__(self, settings: dict, lang: str, seed: int, *, model_dir: str) -> None:
        """``model_dir`` is the translator folder that fetch_model made for ``lang``."""
        import torch

        self.settings = settings
        self.lang = lang
        self.seed = seed
        self.family = settings["family"]
        self.model = settings["model"]
        self.source = translator_source(model_dir)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = load_tokenizer(self.source)
        self._net = None
        self.generated_tokens = 0
        self.forced_bos: int | None = None
        self.template = None
        self._stop_strings = False
        if self.family == "causal":
            self.template = prompts.template(settings["prompt"])
            self.tokenizer.padding_side = "left"  # generation continues right after the prompt
            if self.tokenizer.pad_token is None:
                self.tokenizer.pad_token = self.tokenizer.eos_token
            self._stop_strings = self._can_stop_early(self.template.stop)
        else:
            self._set_seq2seq_languages()

    def _set_seq2seq_languages(self) -> None:
        if self.family == "marian":
            return
        column = "flores" if self.family == "nllb" else "m2m"
        self.tokenizer.src_lang = getattr(language(SOURCE_LANGUAGE), column)
        code = getattr(language(self.lang), column)
        token = code if self.family == "nllb" else f"__{code}__"
        token_id = self.tokenizer.convert_tokens_to_ids(token)
        if code is None or token_id in (None, self.tokenizer.unk_token_id):
            raise ValueError(
                f"model {self.model!r} cannot produce language {self.lang!r}: "
                f"its tokenizer has no language token {token!r}"
            )
        self.forced_bos = token_id

    def _can_stop_early(self, stop: tuple[str, ...]) -> bool:
        """Whether generate can end rows at ``stop`` (the tokenizer must spell them)."""
        if not stop:
            return False
        from transformers import StopStringCriteria

        try:
            StopStringCriteria(self.tokenizer, list(stop))
        except ValueError:
            log.warning(
                "%s cannot spell stop strings %r; cutting after generation", self.model, stop
            )
            return False
        return True

    @property
    def net(self):
        """The model, loaded on first use (a fully resumed shard never loads it)."""
        if self._net is None:
            import torch

            torch.manual_seed(self.seed)
            self._net = load_model(self.source, self.family, self.settings["dtype"], self.device)
            log.info("loaded %s on %s (%s)", self.model, self.device, self._net.dtype)
        return self._net

    def load(self) -> None:
        _ = self.net

    def check_corpus(self, sources: list[str]) -> None:
        return None

    def _prompt(self, text: str) -> str:
        rendered = prompts.render(self.settings["prompt"], text, self.lang)
        if not self.template.chat:
            return rendered
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(
                f"prompt {self.settings['prompt']!r} needs a chat model but {self.model!r} "
                "has no chat template; use prompt: fewshot for a base model"
            )
        messages = [{"role": "user", "content": rendered}]
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def _model_inputs(self, texts: list[str]) -> list[str]:
        return [self._prompt(text) for text in texts] if self.template else texts

    def _encode(self, texts: list[str], special: bool = True) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=special)["input_ids"]

    def source_lengths(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._encode(texts, special=False)] if texts else []

    def input_lengths(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        special = not (self.template and self.template.chat)  # chat text has its own BOS
        return [len(ids) for ids in self._encode(self._model_inputs(texts), special)]

    def has_unknown(self, texts: list[str]) -> list[bool]:
        unk = self.tokenizer.unk_token_id
        if unk is None or not texts:
            return [False] * len(texts)
        return [unk in ids for ids in self._encode(texts, special=False)]

    def truncate(self, text: str, max_tokens: int) -> str:
        ids = self._encode([text], special=False)[0][:max_tokens]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def _token_caps(self, texts: list[str]) -> list[int]:
        """Most new tokens per row: ratio x its source tokens + extra."""
        ratio, extra = self.settings["max_new_tokens_ratio"], self.settings["max_new_tokens_extra"]
        return [math.ceil(ratio * length + extra) for length in self.source_lengths(texts)]

    def translate(self, texts: list[str], refs: list[str]) -> list[str]:
        """Greedy (or beam) translations of one batch, in order.

        Each row is cut to its own token cap, so a translation does not depend on which
        other sentences share its batch.
        """
        import torch

        special = not (self.template and self.template.chat)
        batch = self.tokenizer(
            self._model_inputs(texts), return_tensors="pt", padding=True, add_special_tokens=special
        ).to(self.device)  # input_ids: (batch, longest input)
        caps = self._token_caps(texts)
        # No forced EOS at the batch's longest cap: each row is cut at its own cap below,
        # and forcing EOS at a length set by the batch would make rows depend on it.
        kwargs = {
            "max_new_tokens": max(caps),
            "num_beams": self.settings["num_beams"],
            "forced_eos_token_id": None,
        }
        if self.forced_bos is not None:
            kwargs["forced_bos_token_id"] = self.forced_bos
        if self._stop_strings:
            kwargs.update(stop_strings=list(self.template.stop), tokenizer=self.tokenizer)
        start = batch["input_ids"].shape[1] if self.template else 1
        if self.settings["num_beams"] == 1:  # greedy rows end at their own cap, not the batch's
            kwargs["stopping_criteria"] = _row_caps(start, caps, self.device)
        with torch.inference_mode():
            out = self.net.generate(**batch, **kwargs, do_sample=False)
        # causal: (batch, prompt + new) -> the continuation; seq2seq: drop the start token
        rows = [out[i, start : start + cap] for i, cap in enumerate(caps)]
        pad = self.tokenizer.pad_token_id
        self.generated_tokens += sum(int((row != pad).sum()) for row in rows)
        decoded = self.tokenizer.batch_decode(rows, skip_special_tokens=True)
        stop = self.template.stop if self.template else ()
        return [prompts.cut_at_stop(text, stop) for text in decoded]

    def provenance(self) -> dict:
        return {
            "model": self.model,
            "family": self.family,
            "source": self.source.provenance,
            "gguf_file": self.settings["gguf_file"],
            "device": self.device,
            "dtype": str(pick_dtype(self.settings["dtype"], self.device)),
            "num_beams": self.settings["num_beams"],
            "prompt": self.settings.get("prompt"),
        }


def _row_caps(start: int, caps: list[int], device: str):
    """A stopping criterion that ends each row once it has ``caps[row]`` new tokens."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    limits = torch.tensor(caps, device=device)  # (batch,)

    class RowCaps(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):  # input_ids: (batch, length)
            return (input_ids.shape[1] - start) >= limits  # (batch,) bool

    return StoppingCriteriaList([RowCaps()])
