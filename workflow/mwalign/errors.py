"""The error every config check raises: a leaf module, so that the stages' checks and the
workflow's validation (:mod:`mwalign.config`) share it without importing each other."""


class ConfigError(ValueError):
    """The experiment config is invalid; the message names the key and what is allowed."""


def suggestion(value: object, allowed: object) -> str:
    """``" (did you mean 'X'?)"`` for the allowed value closest to ``value`` (case aside),
    or an empty string when none is close: for messages about a near miss."""
    from difflib import get_close_matches

    choices = {str(choice).lower(): str(choice) for choice in allowed}
    close = get_close_matches(str(value).lower(), list(choices), n=1, cutoff=0.75)
    return f" (did you mean {choices[close[0]]!r}?)" if close else ""
