"""The translate stage: one job per (language, shard), three backends, quality flags.

Public entry points:

- :func:`translate_params` - the config slice a shard of one language depends on
  (the translate rule's params come from :func:`mwalign.plan.translate_job_params`);
- :func:`check_translate_config` - cross-field checks of the ``translate`` config;
- :func:`shard_count` - number of shards of a corpus;
- :func:`translate_shard` - translate one shard, resumably, and write it with stats.
"""

from mwalign.translate.config import (
    check_translate_config,
    shard_count,
    translate_params,
)
from mwalign.translate.shard import translate_shard

__all__ = [
    "check_translate_config",
    "shard_count",
    "translate_params",
    "translate_shard",
]
