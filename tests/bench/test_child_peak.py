"""The benchmark's peak RSS is the measured child's own, not the benchmark's (Linux: VmHWM)."""

from __future__ import annotations

import sys

import pytest

from bench import run as bench

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")


def test_a_child_that_allocates_a_known_amount_reports_that_amount(tmp_path):
    _, baseline, _ = bench.child_run("pass", tmp_path)
    _, peak, _ = bench.child_run("block = b'\\x01' * (96 << 20)", tmp_path)
    # 96 MiB touched, plus what an empty interpreter holds, give or take a few pages
    assert baseline + 94 <= peak <= baseline + 104


def test_the_parents_high_water_mark_does_not_leak_into_the_child(tmp_path):
    held = b"\x01" * (256 << 20)  # the benchmark's own process, grown large
    _, peak, _ = bench.child_run("block = b'\\x01' * (32 << 20)", tmp_path)
    assert len(held) and peak < 32 + 64  # ru_maxrss would say at least 256 MB here
