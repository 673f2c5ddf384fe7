"""multiway-align: multi-way parallel alignment of multilingual sentence embeddings.

One module (or small subpackage) per workflow stage; every function takes paths and
plain values, so the package is used and tested without Snakemake.
"""

__version__ = "0.1.0"
