"""The error every config check raises: a leaf module, so that the stages' checks and the
workflow's validation (:mod:`mwalign.config`) share it without importing each other."""


class ConfigError(ValueError):
    """The experiment config is invalid; the message names the key and what is allowed."""
