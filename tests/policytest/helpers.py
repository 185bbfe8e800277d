"""Helpers for the policy-test and diff tests: a policy with a target, a CLI group, file writing."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner, Result

from sla_engine.cli.policytest import policy_diff, policy_test
from tests.engine.test_evaluate import POLICY

TARGET = """
  target contact_rate "Contacted in time" {
    owner sales
    metric met rate of first_response
    period week
    goal >= 90%
  }
}
"""
# The engine scenarios' policy (tiers, business hours, escalations, recycle), plus a target.
PROJECT_POLICY = POLICY.rstrip()[:-1] + TARGET


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """The two commands on a group of their own, as cli.py registers them on `main`."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = None


cli.add_command(policy_test)
cli.add_command(policy_diff)


def write(project: Path, text: str, name: str = "inbound.test.toml") -> Path:
    path = project / "policies" / "tests" / name
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)
