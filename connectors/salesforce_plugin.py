"""The ``salesforce`` plugin: registers the connector, importing it only when connectors are asked for.

Every ``sla-engine --help`` imports this module, so it imports nothing heavy (see docs/plugins.md).
"""

from __future__ import annotations

from collections.abc import Callable

from sla_engine.hookspecs import hookimpl


@hookimpl
def register_connectors(register: Callable[[str, type], None]) -> None:
    from connectors.salesforce import SalesforceConnector

    register("salesforce", SalesforceConnector)
