"""Versions: the package's own, and the generated-DAG format it can load."""

__version__ = "0.1.0"

# Bumped whenever a generated DAG file would need different operator arguments.
# A DAG file records the format it was written in; MetaflowFlow refuses formats it
# does not know, so an old provider never half-runs a newer DAG (and vice versa).
DAG_FORMAT = 2
SUPPORTED_DAG_FORMATS = frozenset({2})
