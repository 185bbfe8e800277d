"""The ``csv`` plugin: registers the CSV connectors, importing them only when connectors are asked for.

Every ``sla-engine --help`` imports this module, so it imports nothing heavy (see docs/plugins.md).
"""

from __future__ import annotations

from collections.abc import Callable

from sla_engine.hookspecs import hookimpl


@hookimpl
def register_connectors(register: Callable[[str, type], None]) -> None:
    from connectors.csv_connector import CrmExportConnector, CsvConnector

    register("csv", CsvConnector)
    register("crm-export", CrmExportConnector)
