"""`sla-engine doctor`: is this installation ready to run from cron? (as `dbt debug` asks).

Each finding is ok, failed with the reason, or not checked: the configuration, the policies,
the store's integrity, every secret a source names (resolved, never printed), and one harmless
authenticated call per source and per notifier the policies use. A connector or notifier
offers that call as an optional ``check()`` method that returns what it verified and raises
on failure; one without it is reported as not checked. Every message goes through the
delivery scrubber, so a secret that reached an error is shown as ***.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sla_engine import app
from sla_engine.delivery.secrets import remember, scrub

OK, FAILED, NOT_CHECKED = "ok", "failed", "not checked"


@dataclass
class Finding:
    """One thing doctor looked at, and what it found."""

    what: str
    status: str
    detail: str


def _attempt(what: str, probe: Callable[[], Any]) -> Finding:
    try:
        return Finding(what, OK, scrub(str(probe())))
    except Exception as error:  # any failure is a finding, said without its secrets
        return Finding(what, FAILED, scrub(str(error) or type(error).__name__))


def diagnose(config_path: Path | None = None) -> list[Finding]:
    """Everything doctor checks, in the order a person would fix it."""
    try:
        config = app.load_config(config_path)
    except app.AppError as error:
        return [Finding("configuration", FAILED, str(error))]
    findings = [Finding("configuration", OK, f"{len(config.sources)} source(s); policies in {config.policies}")]
    policy_set = None
    try:
        policy_set = app.load_policies(config.policies)
        findings.append(Finding("policies", OK, f"{len(policy_set.policies)} policies, no errors"))
    except app.InvalidPolicies as error:
        findings.append(Finding("policies", FAILED, f"{error}: `sla-engine check` shows each one"))
    except app.AppError as error:
        findings.append(Finding("policies", FAILED, str(error)))
    findings.append(_store_finding(config.db_location))
    findings.extend(_source_finding(config, source.name, source.type) for source in config.sources)
    if policy_set is not None:
        findings.extend(_notifier_findings(policy_set))
    return findings


def _store_finding(path: Path | str) -> Finding:
    from sla_engine.store.location import display, is_postgres

    if is_postgres(path):
        def reach() -> str:
            store = app.open_existing_store(path)
            try:
                return f"{display(str(path))}: reachable, schema at version {store.version}"
            finally:
                store.close()

        return _attempt("store", reach)
    path = Path(path)
    if not path.exists():
        return Finding("store", OK, f"{path}: not created yet; the first evaluate creates it")

    def probe() -> str:
        store = app.open_existing_store(path)
        try:
            problems = store.integrity_problems(quick=False)
        finally:
            store.close()
        if problems:
            raise RuntimeError(f"{path} is damaged (PRAGMA integrity_check: {'; '.join(problems[:3])}); restore "
                               "it from a backup, or move it aside to rebuild it from the sources")
        return f"{path}: integrity check passed"

    return _attempt("store", probe)


def _source_finding(config: Any, name: str, kind: str) -> Finding:
    from sla_engine.connector import Secret

    what = f"source {name} ({kind})"
    try:
        connector = app.connector(config, name)
    except app.AppError as error:
        return Finding(what, FAILED, scrub(str(error)))
    try:
        revealed = 0
        for value in dict(connector.config).values():
            if isinstance(value, Secret):
                remember(value.reveal())  # raises, naming the variable or file, when it is missing
                revealed += 1
        check = getattr(connector, "check", None)
        if check is None:
            return Finding(what, NOT_CHECKED, f"configured, {revealed} secret(s) resolved; its plugin offers "
                                              "no check() to call")
        return _attempt(what, check)
    except Exception as error:
        return Finding(what, FAILED, scrub(str(error)))
    finally:
        connector.close()


def _notifier_check(factory: Callable[..., Any]) -> Callable[[], Any]:
    def probe() -> Any:
        return factory().check()

    return probe


def _notifier_findings(policy_set: Any) -> list[Finding]:
    from sla_engine.language.check import channels_used
    from sla_engine.plugins import notifiers

    factories = notifiers()
    findings = []
    for channel in channels_used(policy_set):
        what = f"notifier {channel}"
        if channel not in factories:
            findings.append(Finding(what, FAILED, f"no plugin delivers `via {channel}`: install the one that does"))
            continue
        factory = factories[channel]
        if getattr(factory, "check", None) is None:
            findings.append(Finding(what, NOT_CHECKED, "its plugin offers no check() to call"))
        else:
            findings.append(_attempt(what, _notifier_check(factory)))
    return findings
