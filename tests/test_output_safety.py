"""Issue 14: what --overwrite may delete, one writer per output, shards in parallel through
`augkit merge`, and permission errors as one line with nothing left behind."""

import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tree_digests import tree_digest
from augkit.cli import cli
from augkit.io.demo import write_demo
from augkit.expand.manifest import read_manifest
from augkit.expand.options import Shard
from augkit.expand.run import expand
from augkit.expand.staging import staging_dir
from augkit.outputs import MARKER, lock_path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_refusal(result, *needles):
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message



def leftovers(folder: Path) -> list[str]:
    """augkit's hidden working files in ``folder`` (staging, lock, old output set aside)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and "augkit" in p.name)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("demo") / "demo", num_cases=4, size=32)


# ---- 1. what --overwrite may replace ----------------------------------------------------------

def test_out_dot_with_overwrite_keeps_the_current_folder(demo_dir, tmp_path, monkeypatch):
    # The report: `--out . --overwrite` emptied the current folder, then crashed.
    here = tmp_path / "work" / "here"
    here.mkdir(parents=True)
    (here / "notes.txt").write_text("mine")
    (tmp_path / "work" / "sibling.txt").write_text("also mine")
    monkeypatch.chdir(here)
    one_line_refusal(run("expand", "--in", demo_dir, "--to", 8, "--out", ".", "--overwrite", "--quiet"),
                     "current folder")
    one_line_refusal(run("expand", "--in", demo_dir, "--to", 8, "--out", "..", "--overwrite", "--quiet"),
                     "current folder")
    assert (here / "notes.txt").read_text() == "mine"
    assert (tmp_path / "work" / "sibling.txt").read_text() == "also mine"
    assert leftovers(here) == [] and leftovers(tmp_path / "work") == [] and leftovers(tmp_path) == []


def test_out_dot_in_an_empty_folder_is_refused_before_any_work(demo_dir, tmp_path, monkeypatch):
    # The report: without --overwrite, `--out .` ran the whole expand, then crashed and lost it.
    here = tmp_path / "empty"
    here.mkdir()
    monkeypatch.chdir(here)
    one_line_refusal(run("expand", "--in", demo_dir, "--to", 8, "--out", ".", "--quiet"), "current folder")
    assert list(here.iterdir()) == [] and leftovers(tmp_path) == []


def test_home_folder_is_refused(demo_dir, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("x")
    monkeypatch.setenv("HOME", str(home))
    one_line_refusal(run("expand", "--in", demo_dir, "--to", 8, "--out", home, "--overwrite", "--quiet"),
                     "home folder")
    assert (home / ".bashrc").read_text() == "x"


def test_filesystem_root_is_refused_for_every_command(tmp_path):
    # Never run against an old augkit: its --overwrite would go for "/" itself.
    one_line_refusal(run("expand", "--in", tmp_path, "--to", 8, "--out", "/", "--overwrite"), "filesystem root")
    one_line_refusal(run("demo", "/", "--overwrite"), "filesystem root")
    one_line_refusal(run("evaluate", "--real", tmp_path, "--synthetic", tmp_path, "--out", "/"),
                     "filesystem root")


def test_overwrite_refuses_a_git_repository_and_a_file(demo_dir, tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / "code.py").write_text("print(1)\n")
    one_line_refusal(run("expand", "--in", demo_dir, "--to", 8, "--out", repo, "--overwrite", "--quiet"),
                     ".git", "code.py", "augkit wrote")
    assert (repo / ".git" / "HEAD").exists() and (repo / "code.py").exists()
    target = tmp_path / "data.csv"
    target.write_text("a,b\n")
    one_line_refusal(run("expand", "--in", demo_dir, "--to", 8, "--out", target, "--overwrite", "--quiet"),
                     "is a file")
    assert target.read_text() == "a,b\n"
    assert leftovers(tmp_path) == []


def test_overwrite_replaces_augkit_outputs_only_as_they_were_written(demo_dir, tmp_path):
    out = tmp_path / "out"
    assert run("expand", "--in", demo_dir, "--to", 8, "--out", out, "--quiet").exit_code == 0
    assert json.loads((out / MARKER).read_text())["written_by"] == "augkit expand"
    # The user's own file inside an augkit output stops --overwrite, naming it.
    (out / "my_model.pt").write_text("weights")
    one_line_refusal(run("expand", "--in", demo_dir, "--to", 10, "--out", out, "--overwrite", "--quiet"),
                     "my_model.pt")
    assert (out / "my_model.pt").exists() and len(read_manifest(out / "manifest.csv")) == 8
    (out / "my_model.pt").unlink()
    # An output of an augkit before markers is known by its manifest.
    (out / MARKER).unlink()
    result = run("expand", "--in", demo_dir, "--to", 10, "--out", out, "--overwrite", "--quiet")
    assert result.exit_code == 0, result.output
    assert len(read_manifest(out / "manifest.csv")) == 10 and leftovers(tmp_path) == []
    # An empty folder is fine without --overwrite.
    (tmp_path / "empty").mkdir()
    assert run("expand", "--in", demo_dir, "--to", 8, "--out", tmp_path / "empty", "--quiet").exit_code == 0


def test_demo_train_generate_evaluate_follow_the_same_rule(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("x")
    one_line_refusal(run("demo", mine, "--overwrite", "--cases", 2, "--size", 32), "thesis.tex")
    assert (mine / "thesis.tex").exists()
    demo = tmp_path / "demo"
    assert run("demo", demo, "--cases", 2, "--size", 32).exit_code == 0
    assert run("demo", demo, "--cases", 3, "--size", 32, "--overwrite").exit_code == 0  # its own output
    one_line_refusal(run("train", "--in", demo, "--generator", "pix2pix", "--out", mine, "--overwrite"),
                     "thesis.tex")
    monkeypatch.chdir(mine)
    one_line_refusal(run("generate", "--model", tmp_path / "nomodel", "--n", 3, "--out", "."), "current folder")
    one_line_refusal(run("evaluate", "--real", demo, "--synthetic", demo, "--out", "."), "current folder")
    one_line_refusal(run("train", "--in", demo, "--generator", "pix2pix", "--out", ".."), "current folder")
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]


# ---- 2. one writer per output; shards in parallel through merge -------------------------------

# A run that holds its lock and then waits at index 3 until the test opens the gate, so the
# two processes are certainly at once (both started together; whichever locks first wins).
GATED = """
import os, sys, time
import augkit.expand.maker as maker
gate, real_make = os.environ["GATE"], maker.SampleMaker.make
def make(self, index, source):
    if index >= 3:
        deadline = time.time() + 120
        while not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.05)
    return real_make(self, index, source)
maker.SampleMaker.make = make
from augkit.cli import cli
cli(prog_name="augkit")
"""


def expand_process(args, gate: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", GATED, "expand", *map(str, args), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "GATE": str(gate)})


@pytest.mark.parametrize("shards", [(None, None), ("0/2", "1/2")], ids=["same-command", "two-shards"])
def test_two_runs_into_one_output_at_once(demo_dir, tmp_path, shards):
    out, gate = tmp_path / "out", tmp_path / "gate"
    procs = [expand_process(["--in", demo_dir, "--to", 40, "--out", out, "--seed", 1]
                            + (["--shard", s] if s else []), gate) for s in shards]
    try:
        deadline = time.time() + 180
        while time.time() < deadline and all(p.poll() is None for p in procs):
            time.sleep(0.05)
        finished = [p for p in procs if p.poll() is not None]
        assert finished, "neither run was refused while both ran"
        loser = finished[0]
        winner = procs[1 - procs.index(loser)]
        loser_err = loser.communicate()[1].strip()
        assert loser.returncode == 2 and loser_err.startswith("Error: ") and "\n" not in loser_err, loser_err
        assert "another augkit run" in loser_err and f"pid {winner.pid}" in loser_err
        if shards[0]:
            assert "augkit merge" in loser_err
        assert winner.poll() is None  # the refusal did not disturb the run that holds the lock
    finally:
        gate.touch()
    stdout, stderr = winner.communicate(timeout=180)
    assert winner.returncode == 0, stderr
    # The manifest and the files agree, and nothing of either run is left beside the output.
    rows = read_manifest(out / "manifest.csv")
    listed = {f for r in rows for f in r["files"].split(";")}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {"manifest.csv", MARKER}
    assert listed == on_disk
    assert len(rows) == (40 if shards[0] is None else 20) and f"wrote {len(rows)} samples" in stdout
    assert leftovers(tmp_path) == []


def test_shards_run_at_once_and_merge_into_the_full_run(demo_dir, tmp_path):
    reference = tree_digest(expand(demo_dir, 30, tmp_path / "full", seed=2, progress=False).out_dir)
    parts = [tmp_path / f"part{i}" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "augkit", "expand", "--in", str(demo_dir), "--to", "30",
                               "--seed", "2", "--shard", f"{i}/2", "--out", str(part), "--quiet",
                               "--generator", "none"],  # the API's expand above is classical
                              stderr=subprocess.PIPE, text=True) for i, part in enumerate(parts)]
    for proc in procs:
        stderr = proc.communicate(timeout=180)[1]
        assert proc.returncode == 0, stderr
    one_line_refusal(run("merge", parts[0], "--out", tmp_path / "merged"), "1/2 missing")
    result = run("merge", *parts, "--out", tmp_path / "merged")
    assert result.exit_code == 0, result.output
    assert "30 samples" in result.output
    assert tree_digest(tmp_path / "merged") == reference  # manifest and marker included
    assert leftovers(tmp_path) == []


def test_merge_refuses_parts_of_different_runs(demo_dir, tmp_path):
    a = expand(demo_dir, 20, tmp_path / "a", seed=1, shard=Shard(0, 2), progress=False).out_dir
    b = expand(demo_dir, 20, tmp_path / "b", seed=2, shard=Shard(1, 2), progress=False).out_dir
    one_line_refusal(run("merge", a, b, "--out", tmp_path / "m"), "other settings", "seed")
    one_line_refusal(run("merge", a, a, "--out", tmp_path / "m"), "given twice")
    assert not (tmp_path / "m").exists() and leftovers(tmp_path) == []


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(demo_dir, tmp_path):
    # SIGKILL leaves the lock file with a dead pid in it; the kernel has dropped the lock itself.
    out = tmp_path / "out"
    lock_path(out).write_text(json.dumps({"pid": 999999999, "host": "elsewhere", "since": "yesterday"}))
    assert expand(demo_dir, 8, out, progress=False).num_samples == 8
    assert leftovers(tmp_path) == []


# ---- 3. permission errors -------------------------------------------------------------------

# Root ignores permission bits (CAP_DAC_OVERRIDE), so as root the CLI runs in a child whose
# capability bounding set lacks the overrides: the kernel then really refuses, as for a user.
_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
PR_CAPBSET_DROP = 24


def _drop_overrides():
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in _CAPS:
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_unprivileged(args, **kwargs) -> subprocess.CompletedProcess:
    preexec = _drop_overrides if os.geteuid() == 0 else None
    return subprocess.run([sys.executable, "-m", "augkit", *map(str, args)], capture_output=True,
                          text=True, preexec_fn=preexec, timeout=180, **kwargs)


@pytest.fixture
def permissions_apply(tmp_path):
    """Skip only where permission bits cannot be made to bind (root without CAP_SETPCAP)."""
    probe = tmp_path / "probe"
    probe.mkdir(mode=0o555)
    try:
        result = subprocess.run([sys.executable, "-c", f"open({str(probe / 'x')!r}, 'w')"],
                                capture_output=True, preexec_fn=_drop_overrides if os.geteuid() == 0 else None)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot drop root's permission override here: {exc}")
    finally:
        probe.chmod(0o755)
    if result.returncode == 0:
        pytest.skip("permission bits do not bind for this user here")


def assert_one_line_exit_2(result, *needles):
    err = result.stderr.strip()
    assert result.returncode == 2, err
    assert err.startswith("Error: ") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_read_only_parent_is_one_line_and_leaves_nothing(demo_dir, tmp_path, permissions_apply):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        result = run_unprivileged(["expand", "--in", demo_dir, "--to", 8, "--out", parent / "out", "--quiet"])
        assert_one_line_exit_2(result, str(parent), "ermission denied")
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


def test_read_only_output_with_overwrite_is_one_line_and_leaves_nothing(demo_dir, tmp_path, permissions_apply):
    out = tmp_path / "out"
    expand(demo_dir, 8, out, progress=False)
    before = tree_digest(out)
    sub = next(p for p in out.iterdir() if p.is_dir())
    for folder in (sub, out):
        folder.chmod(0o555)
    try:
        result = run_unprivileged(["expand", "--in", demo_dir, "--to", 12, "--out", out, "--overwrite", "--quiet"])
        assert_one_line_exit_2(result, "read-only", "--overwrite")
    finally:
        for folder in (out, sub):
            folder.chmod(0o755)
    assert tree_digest(out) == before and leftovers(tmp_path) == []


def test_permission_error_while_finishing_removes_this_runs_staging_only(demo_dir, tmp_path, monkeypatch):
    # The in-process half of the rule: a run that fails on permissions removes the staging it
    # made, but never an earlier run's resumable work.
    import augkit.expand.run as engine
    import augkit.expand.maker as maker

    def denied(stage, out_dir, **_):
        raise PermissionError(13, "Permission denied", str(out_dir))

    monkeypatch.setattr(engine, "replace_output", denied)
    out = tmp_path / "out"
    # --generator none: the API's expand below (classical) must be the same run to be resumed
    result = run("expand", "--in", demo_dir, "--to", 8, "--out", out, "--quiet", "--generator", "none")
    one_line_refusal(result, "Permission denied")
    assert leftovers(tmp_path) == [] and not out.exists()

    real_make, calls = maker.SampleMaker.make, []

    def interrupted(self, index, source):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(index)
        return real_make(self, index, source)

    monkeypatch.setattr(maker.SampleMaker, "make", interrupted)
    with pytest.raises(KeyboardInterrupt):
        expand(demo_dir, 8, out, progress=False)
    monkeypatch.setattr(maker.SampleMaker, "make", real_make)
    one_line_refusal(run("expand", "--in", demo_dir, "--to", 8, "--out", out, "--quiet", "--generator", "none"),
                     "Permission denied")
    assert len(os.listdir(staging_dir(out) / ".augkit" / "rows")) == 8  # earlier work kept, resumable


def test_without_flock_a_dead_holder_is_taken_over_and_a_live_one_refuses(tmp_path, monkeypatch):
    # Filesystems without flock (some network mounts): the lock file is created exclusively, and
    # one left by a process that no longer runs on this host is stale.
    import fcntl
    import socket

    from augkit.errors import UsageError
    from augkit.outputs import OutputLock

    def no_flock(fd, op):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    out = tmp_path / "out"
    host = socket.gethostname()
    lock_path(out).write_text(json.dumps({"pid": 999999999, "host": host, "since": "then"}))
    with OutputLock(out):
        assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
        with pytest.raises(UsageError, match=f"pid {os.getpid()} on {host}"):
            OutputLock(out).acquire()
    assert not lock_path(out).exists()
