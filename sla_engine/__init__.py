"""sla-engine: a sales-and-marketing SLA written as policy files, run as code."""

# The one place the version is written (pyproject.toml reads it), so `--version` needs no package metadata.
__version__ = "0.1.0"
