"""multiway-align: multi-way parallel alignment of multilingual sentence embeddings.

One subpackage (or module) per workflow stage, named like its rule file under
workflow/rules/, holding the stage's job code, its params slice (``params``) and its
config checks (``checks``); the modules beside them are shared by several stages. Every
function takes paths and plain values, so the package is used and tested without
Snakemake.

Stages: :mod:`.models` (fetch_model), :mod:`.sample`, :mod:`.translate`,
:mod:`.assemble`, :mod:`.teacher`, :mod:`.train`, :mod:`.evaluate`, :mod:`.report`.

Shared: :mod:`.config` (schema, defaults, validation; the schemas under ``schemas/``),
:mod:`.jobs` (job names) and :mod:`.plan` (wildcards, job table), :mod:`.paths`,
:mod:`.files` and :mod:`.tables` (file names, atomic I/O, Arrow schemas), :mod:`.errors`,
:mod:`.hub`, :mod:`.trust`, :mod:`.limits`, :mod:`.students`, :mod:`.bible`,
:mod:`.languages`, :mod:`.text`, :mod:`.provenance`, :mod:`.precision`,
:mod:`.cpu_kernels`, and for running jobs :mod:`.runner`, :mod:`.devices`,
:mod:`.schedule`, :mod:`.runlock`; :mod:`.cli` is the ``mwalign`` command.
"""

__version__ = "0.1.0"
