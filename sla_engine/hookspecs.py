"""The hooks a plugin may implement. Each is documented in docs/plugins.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("sla_engine")
hookimpl = pluggy.HookimplMarker("sla_engine")


@hookspec
def register_connectors(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register connector types: call ``register(name, factory)`` once per type.

    ``factory(**config)`` returns an object with ``pull(cursor)`` yielding LeadEvent or
    Rejected items; a source named ``NAME:ARG`` on the command line passes ``target=ARG``.
    """
