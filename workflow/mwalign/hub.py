"""Whether the Hugging Face hub may be used now, and whether a dataset is cached.

The one place the project asks: the model resolver (:mod:`mwalign.models.fetch`), the
sample job (a Hugging Face corpus), the evaluate job (mteb task data) and the parse-time
checks (``HF_HUB_OFFLINE`` with a config that needs the hub) all call these functions.

- :func:`hub_offline`: ``HF_HUB_OFFLINE`` is set (read now, not at import).
- :func:`hub_unavailable_reason`: None when the hub answers within
  :data:`HUB_PROBE_TIMEOUT_S` seconds, else a sentence saying why not.
- :func:`hub_dataset_cached`: a dataset repository is in the local hub or datasets cache.
- :func:`hub_dataset_reason`: None when a dataset can be read now, else an error message
  naming the config key.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

# Seconds the reachability probe (and a snapshot's etag request) waits for the hub.
HUB_PROBE_TIMEOUT_S = 3.0


def hub_offline() -> bool:
    """HF_HUB_OFFLINE, read now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return constants.HF_HUB_OFFLINE or value in {"1", "ON", "YES", "TRUE"}


def _hub_unreachable_reason(timeout: float | None = None) -> str | None:
    """None when the hub answers an HTTP request within ``timeout`` s (default
    :data:`HUB_PROBE_TIMEOUT_S`), else why not.

    Runs in a daemon thread so that a hanging DNS lookup cannot hold the caller either.
    """
    from huggingface_hub import constants, get_session

    timeout = HUB_PROBE_TIMEOUT_S if timeout is None else timeout
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            get_session().head(constants.ENDPOINT, timeout=timeout)
            outcome.append(None)
        except Exception as err:  # noqa: BLE001 - any failure means "unreachable"
            outcome.append(f"{type(err).__name__}: {err}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if not outcome:
        return f"no answer from {constants.ENDPOINT} within {timeout:.0f} s"
    return outcome[0]


def hub_unavailable_reason() -> str | None:
    """None when the hub can be used now, else why not (offline mode, or no answer).

    The one offline probe of the project: every model resolver asks this.
    """
    return "HF_HUB_OFFLINE is set" if hub_offline() else _hub_unreachable_reason()


def hub_dataset_cached(name: str) -> bool:
    """Whether a Hugging Face dataset repository is in the local hub or datasets cache."""
    from huggingface_hub import constants

    if (Path(constants.HF_HUB_CACHE) / f"datasets--{name.replace('/', '--')}").is_dir():
        return True
    datasets_cache = os.environ.get("HF_DATASETS_CACHE") or Path(constants.HF_HOME) / "datasets"
    return (Path(datasets_cache) / name.replace("/", "___")).is_dir()


def hub_dataset_reason(name: str, *, key: str) -> str | None:
    """None when dataset ``name`` can be read now (cached, or the hub answers), else why not,
    naming the config key. The job's first check; it probes the hub (a few seconds at most)."""
    if hub_dataset_cached(name):
        return None
    reason = hub_unavailable_reason()
    if reason is None:
        return None
    return (
        f"{key} {name!r} needs the Hugging Face hub, which cannot be reached ({reason}), and "
        "the dataset is not in the local cache; run where the hub is reachable (once, to fill "
        "the cache under resources/hf), or use the packaged Bible (corpus.source: bible) "
        "and the offline tasks"
    )
