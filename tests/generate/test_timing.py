"""Bulk-generation timing helpers: the speed-up ratio, memory readings, a fresh process's JSON."""

import subprocess
import sys

import pytest

from augkit.generate.timing import in_fresh_process, rss_mib, speedup


def test_speedup_compares_samples_per_second():
    # baseline: 10 samples in 5 s = 2/s; bulk 9/s
    assert speedup(10, 5.0, 9.0) == 4.5


def test_rss_is_a_positive_number_of_mib():
    assert 1 < rss_mib() < 1e6


def test_in_fresh_process_returns_the_last_line_as_json():
    got = in_fresh_process([sys.executable, "-c", "print('warming up'); import json; print(json.dumps({'a': 1}))"])
    assert got == {"a": 1}


def test_in_fresh_process_fails_loudly():
    with pytest.raises(subprocess.CalledProcessError):
        in_fresh_process([sys.executable, "-c", "raise SystemExit(3)"])
