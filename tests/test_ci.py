"""Required things fail loudly: CI without the real data stops at once, and the shared-data
fixture fails (never skips) the tests that need it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytester"]


def test_ci_stops_in_one_line_without_the_shared_data(tmp_path):
    repo = tmp_path / "repo"  # no ../shared/data beside it
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(REPO_ROOT / ".ci" / "run", repo / ".ci" / "run")
    result = subprocess.run(["bash", str(repo / ".ci" / "run")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "../shared/data" in lines[0]
    assert not (repo / ".ci-venv").exists()  # stopped before installing anything


def test_missing_shared_data_fails_the_tests_that_need_it(pytester):
    pytester.makeconftest((REPO_ROOT / "tests" / "conftest.py").read_text())  # ../shared/data absent there
    pytester.makepyfile(test_uses_data="def test_reads(shared_data):\n    assert shared_data.is_dir()\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*real data not found at*shared/data*"])


def test_no_test_skips_when_a_required_dependency_is_missing():
    """A required dependency (pyproject ``dependencies``) missing must fail the tests, not skip
    them: ``importorskip`` is only for the optional extras (torch, ray)."""
    import re
    import tomllib

    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[; ]", d)[0].lower() for d in deps}
    modules = names | {n.split("-")[0] for n in names} | {"sklearn", "skimage", "yaml", "PIL".lower()}
    offenders = []
    for path in sorted((REPO_ROOT / "tests").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found = re.search(r"importorskip\(\s*[\"']([\w.]+)", line)
            if found and found.group(1).split(".")[0].lower() in modules:
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{number} {found.group(1)}")
    assert not offenders, f"importorskip of required dependencies: {offenders}"
