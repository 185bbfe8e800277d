"""`python -m sla_engine.cli`, as the sla-engine script."""

from sla_engine.cli import main

main()
