"""The translate stage: one job per (language, shard), three backends, quality flags.

Public entry points:

- :func:`translate_params` - the config slice a shard of one language depends on
- :func:`translate_job_params` - the same from the whole config (plus trust_remote_code)
  (pass it as a rule's params);
- :func:`check_translate_config` - validate the ``translate`` config at parse time;
- :func:`shard_count` - number of shards of a corpus;
- :func:`translate_shard` - translate one shard, resumably, and write it with stats.
"""

from mwalign.translate.config import (
    check_translate_config,
    shard_count,
    translate_job_params,
    translate_params,
)
from mwalign.translate.shard import translate_shard

__all__ = [
    "check_translate_config",
    "shard_count",
    "translate_job_params",
    "translate_params",
    "translate_shard",
]
