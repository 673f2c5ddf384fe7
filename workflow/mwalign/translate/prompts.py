"""Prompt templates of LLM translators, shared by the transformers and vllm backends.

A template is named in config (``prompt: seed-x``) or given inline as a string with
the fields ``{source_lang}``, ``{target_lang}``, ``{target_code}``, ``{text}`` and, for
few-shot prompts, ``{examples}``. ``chat`` templates are sent as one user message
through the model's chat template; the others are plain completions.
"""

from __future__ import annotations

from dataclasses import dataclass

from mwalign.languages import language
from mwalign.paths import SOURCE_LANGUAGE


@dataclass(frozen=True)
class PromptTemplate:
    text: str
    chat: bool  # send as a user message through the tokenizer's chat template
    stop: tuple[str, ...] = ()  # the output is cut at the first of these


TEMPLATES: dict[str, PromptTemplate] = {
    # Base (non-instruction) models: a few translated pairs, then the source.
    "fewshot": PromptTemplate(
        "{examples}{source_lang}: {text}\n{target_lang}:", chat=False, stop=("\n",)
    ),
    # Any instruction-tuned model.
    "instruct": PromptTemplate(
        "Translate the following {source_lang} text into {target_lang}. "
        "Reply with the translation only.\n\n{text}",
        chat=True,
    ),
    # ByteDance-Seed/Seed-X-Instruct-7B and Seed-X-PPO-7B (plain completion).
    "seed-x": PromptTemplate(
        "Translate the following {source_lang} sentence into {target_lang}:\n"
        "{text} <{target_code}>",
        chat=False,
        stop=("\n",),
    ),
    # tencent/Hunyuan-MT-7B (the model card's prompt for non-Chinese pairs).
    "hunyuan-mt": PromptTemplate(
        "Translate the following segment into {target_lang}, without additional explanation."
        "\n\n{text}",
        chat=True,
    ),
}

# Example pairs of the few-shot template: short everyday sentences, not from any test set.
FEWSHOT_ENGLISH = (
    "The weather is very nice today.",
    "He opened the door and went into the house.",
)
FEWSHOT_EXAMPLES: dict[str, tuple[str, str]] = {
    "ar": ("الطقس جميل جدا اليوم.", "فتح الباب ودخل البيت."),
    "de": ("Das Wetter ist heute sehr schön.", "Er öffnete die Tür und ging ins Haus."),
    "es": ("Hoy hace muy buen tiempo.", "Abrió la puerta y entró en la casa."),
    "fr": ("Il fait très beau aujourd'hui.", "Il ouvrit la porte et entra dans la maison."),
    "hi": ("आज मौसम बहुत अच्छा है।", "उसने दरवाज़ा खोला और घर के अंदर गया।"),
    "it": ("Oggi il tempo è molto bello.", "Aprì la porta ed entrò in casa."),
    "ja": ("今日はとても良い天気です。", "彼はドアを開けて家の中に入った。"),
    "ko": ("오늘 날씨가 아주 좋습니다.", "그는 문을 열고 집 안으로 들어갔다."),
    "nl": ("Het weer is vandaag erg mooi.", "Hij opende de deur en ging het huis binnen."),
    "pl": ("Dzisiaj jest bardzo ładna pogoda.", "Otworzył drzwi i wszedł do domu."),
    "pt": ("O tempo está muito bom hoje.", "Ele abriu a porta e entrou em casa."),
    "ru": ("Сегодня очень хорошая погода.", "Он открыл дверь и вошёл в дом."),
    "tr": ("Bugün hava çok güzel.", "Kapıyı açtı ve eve girdi."),
    "uk": ("Сьогодні дуже гарна погода.", "Він відчинив двері й увійшов до хати."),
    "vi": ("Hôm nay thời tiết rất đẹp.", "Anh ấy mở cửa và đi vào nhà."),
    "zh": ("今天天气很好。", "他打开门，走进了屋子。"),
}


def template(spec: str) -> PromptTemplate:
    """The template named ``spec``, or ``spec`` itself as a completion template."""
    if spec in TEMPLATES:
        return TEMPLATES[spec]
    if "{text}" not in spec:
        known = ", ".join(sorted(TEMPLATES))
        raise ValueError(
            f"unknown prompt template {spec!r}; use one of {known} "
            "or a string with a {text} field"
        )
    return PromptTemplate(spec, chat=False)


def check_template(spec: str, lang: str) -> None:
    """Raise ValueError if ``spec`` cannot prompt for ``lang`` (e.g. no few-shot examples)."""
    tmpl = template(spec)
    if "{examples}" in tmpl.text and lang not in FEWSHOT_EXAMPLES:
        known = ", ".join(sorted(FEWSHOT_EXAMPLES))
        raise ValueError(
            f"prompt {spec!r} has no few-shot examples for language {lang!r}; "
            f"languages with examples: {known}"
        )


def render(spec: str, text: str, lang: str, source_lang: str = SOURCE_LANGUAGE) -> str:
    """The prompt asking to translate ``text`` from ``source_lang`` into ``lang``."""
    tmpl = template(spec)
    source, target = language(source_lang), language(lang)
    examples = ""
    if "{examples}" in tmpl.text:
        check_template(spec, lang)
        examples = "".join(
            f"{source.name}: {src}\n{target.name}: {tgt}\n\n"
            for src, tgt in zip(FEWSHOT_ENGLISH, FEWSHOT_EXAMPLES[lang], strict=True)
        )
    return tmpl.text.format(
        source_lang=source.name,
        target_lang=target.name,
        target_code=lang,
        text=text,
        examples=examples,
    )


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """``text`` up to the first stop sequence, stripped."""
    for seq in stop:
        index = text.find(seq)
        if index >= 0:
            text = text[:index]
    return text.strip()
