"""``--engine ray`` on a local Ray cluster started here: expand and generate give the bytes of
the local run whatever the workers and chunks, a worker killed mid-run is retried without a
lost or doubled index, and a killed driver's run is finished by the same command."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import ray
from click.testing import CliRunner

from tree_digests import tree_digest
from augkit.api import expand_folder, generate_folder, train_generator
from augkit.cli import cli
from augkit.io.demo import write_demo
from augkit.expand.manifest import read_manifest
from augkit.expand.staging import staging_dir
from augkit.engines.base import Engine
from augkit.errors import UsageError

pytestmark = pytest.mark.ray



@pytest.fixture(scope="module")
def cluster():
    """Two CPUs, so two workers; shut down after the module (and on failure)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("ray") / "demo", num_cases=6, size=32)


@pytest.fixture(scope="module")
def tiny_model(demo, tmp_path_factory):
    model = tmp_path_factory.mktemp("model") / "pix2pix"
    train_generator(demo, "pix2pix", model, profile="tiny", epochs=1, progress=False)
    return model


@pytest.fixture(scope="module")
def local_expand(demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "x"
    expand_folder(demo, 60, out, seed=3, progress=False)
    return out


def test_expand_on_ray_gives_the_local_bytes_whatever_the_chunks(cluster, demo, local_expand, tmp_path):
    local = tree_digest(local_expand)
    for chunk_size in (1, 7, None):  # None: the default split
        out = tmp_path / f"ray-{chunk_size}"
        result = expand_folder(demo, 60, out, seed=3, progress=False, engine="ray", num_workers=2,
                               chunk_size=chunk_size)
        assert result.num_samples == 60 and result.counts == {"real": 6, "classical": 54}
        assert tree_digest(out) == local, f"chunk size {chunk_size}"
        assert not staging_dir(out).exists()


def test_generate_and_gan_expand_on_ray_give_the_local_bytes(cluster, demo, tiny_model, tmp_path):
    generated = {}
    for engine in ("local", "ray"):
        options = {"num_workers": 2} if engine == "ray" else {}
        summary = generate_folder(tiny_model, 10, tmp_path / f"gen-{engine}", seed=5, conditions_dir=demo,
                                  shard_size=3, progress=False, engine=engine, **options)
        assert summary["shards_written"] == [0, 1, 2, 3]
        generated[engine] = tree_digest(tmp_path / f"gen-{engine}")
    assert len(generated["ray"]) == 4 + 10 * 2 + 1  # 4 shard tables, 10 images + 10 masks, bulk.json
    assert generated["ray"] == generated["local"]
    expanded = {}
    for engine in ("local", "ray"):
        options = {"num_workers": 2, "chunk_size": 3} if engine == "ray" else {}
        result = expand_folder(demo, 20, tmp_path / f"x-{engine}", seed=5, generator="pix2pix",
                               model_dir=tiny_model, progress=False, engine=engine, **options)
        assert result.counts["gan"] == 7
        expanded[engine] = tree_digest(tmp_path / f"x-{engine}")
    assert expanded["ray"] == expanded["local"]


def _chunk_workers() -> list[int]:
    """Pids of Ray worker processes running one of our chunks now (Ray titles a worker
    ``ray::<task name>`` while it runs a task)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::_run_chunk"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def test_a_worker_killed_mid_run_is_retried_with_every_index_once(cluster, tmp_path):
    demo = write_demo(tmp_path / "demo", num_cases=8, size=64)
    local = tmp_path / "local"
    expand_folder(demo, 400, local, seed=2, progress=False)
    out = tmp_path / "ray"
    rows = staging_dir(out) / ".augkit" / "rows"
    outcome: dict[str, object] = {}

    def driver():
        try:
            outcome["result"] = expand_folder(demo, 400, out, seed=2, progress=False, engine="ray",
                                              num_workers=2, chunk_size=10)
        except BaseException as exc:  # shown by the asserts below
            outcome["error"] = exc

    thread = threading.Thread(target=driver)
    thread.start()
    killed = None
    while thread.is_alive() and killed is None:
        busy = _chunk_workers()
        if busy and rows.is_dir() and len(list(rows.glob("*.json"))) >= 20:
            os.kill(busy[0], signal.SIGKILL)  # mid-chunk: some of its indices done, others not
            killed = busy[0]
        time.sleep(0.002)
    thread.join()
    assert killed is not None, "the run ended before a worker could be killed"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].num_samples == 400
    indices = [int(r["index"]) for r in read_manifest(out / "manifest.csv")]
    assert indices == list(range(400))  # every index once, none lost, none doubled
    assert tree_digest(out) == tree_digest(local)


def test_a_worker_killed_mid_shard_is_retried_and_generate_gives_the_local_bytes(cluster, demo, tiny_model,
                                                                                 tmp_path):
    local = tmp_path / "local"
    generate_folder(tiny_model, 48, local, seed=4, conditions_dir=demo, shard_size=4, progress=False)
    out = tmp_path / "ray"
    outcome: dict[str, object] = {}

    def driver():
        try:
            outcome["summary"] = generate_folder(tiny_model, 48, out, seed=4, conditions_dir=demo,
                                                 shard_size=4, progress=False, engine="ray", num_workers=2)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=driver)
    thread.start()
    killed = None
    while thread.is_alive() and killed is None:
        busy = _chunk_workers()
        if busy and list(out.glob(".tmp-shard-*")) and list(out.glob("shard-*")):
            os.kill(busy[0], signal.SIGKILL)  # a shard half written in its temporary folder
            killed = busy[0]
        time.sleep(0.002)
    thread.join()
    assert killed is not None, "the run ended before a worker could be killed"
    assert "error" not in outcome, outcome.get("error")
    assert not list(out.glob(".tmp-*"))
    assert tree_digest(out) == tree_digest(local)


def test_a_killed_driver_is_resumed_by_the_same_command(cluster, demo, local_expand, tmp_path):
    out = tmp_path / "x"
    rows = staging_dir(out) / ".augkit" / "rows"
    # Its own local cluster (no address, no RAY_ADDRESS: this test's cluster is not `ray start`'s).
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cmd = [sys.executable, "-m", "augkit", "expand", "--in", str(demo), "--to", "60", "--out", str(out),
           "--seed", "3", "--quiet", "--engine", "ray", "--num-workers", "1", "--chunk-size", "1",
           "--generator", "none"]  # the API's resume below is classical
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    while proc.poll() is None and not (rows.is_dir() and len(list(rows.glob("*.json"))) >= 8):
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before its driver could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the cluster it started, as a dead machine
    proc.wait()
    assert not out.exists()
    finished = len(list(rows.glob("[0-9]*.json")))
    result = expand_folder(demo, 60, out, seed=3, progress=False, engine="ray", num_workers=2)
    assert result.resumed == finished >= 8
    assert tree_digest(out) == tree_digest(local_expand)


def test_engine_options_are_checked_in_one_line(demo, tmp_path):
    with pytest.raises(UsageError, match="--num-workers only apply with --engine ray"):
        expand_folder(demo, 10, tmp_path / "a", num_workers=2)
    with pytest.raises(UsageError, match="--engine must be one of local, ray"):
        Engine("spark")
    with pytest.raises(UsageError, match="--chunk-size"):
        generate_folder(tmp_path / "nomodel", 4, tmp_path / "g", engine="ray", chunk_size=2)
    assert not (tmp_path / "a").exists() and not (tmp_path / "g").exists()


def test_an_address_where_no_cluster_answers_is_one_line_before_anything_is_written(demo, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = CliRunner().invoke(cli, ["expand", "--in", str(demo), "--to", "8", "--out", str(tmp_path / "o"),
                                      "--engine", "ray", "--address", f"127.0.0.1:{port}", "--quiet"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--address 127.0.0.1:{port}: no Ray cluster answers" in lines[0]
    assert list(tmp_path.iterdir()) == []  # no staging folder, no lock


def test_the_core_does_not_import_ray_for_a_local_run(demo, tmp_path):
    code = ("import sys, augkit.api, augkit.cli; from augkit.api import expand_folder; "
            f"expand_folder({str(demo)!r}, 8, {str(tmp_path / 'o')!r}, progress=False); "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'ray')))")
    done = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_a_missing_ray_is_one_line_naming_the_extra(demo, tmp_path):
    # ray made unimportable in a fresh interpreter (a None entry in sys.modules stops the import)
    code = ("import sys; sys.modules['ray'] = None\n"
            "from click.testing import CliRunner\nfrom augkit.cli import cli\n"
            f"r = CliRunner().invoke(cli, ['expand', '--in', {str(demo)!r}, '--to', '8', '--out', "
            f"{str(tmp_path / 'o')!r}, '--engine', 'ray', '--quiet'])\n"
            "print(r.exit_code); print(r.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    exit_code, *lines = done.stdout.strip().splitlines()
    assert exit_code == "2" and len(lines) == 1, done.stdout + done.stderr
    assert 'pip install -e ".[ray]"' in lines[0]
    assert list(tmp_path.iterdir()) == []  # no staging folder either


class _Probe:
    """Work that reports, per item, the worker process, the generator object it holds and how
    many items this copy of the work has run: a work unpacked again (the generator reloaded)
    restarts its count at 1."""

    def __init__(self, generator):
        self.generator = generator
        self.calls = 0

    def run(self, item: int):
        self.calls += 1
        return {"item": item, "pid": os.getpid(), "generator": id(self.generator), "calls": self.calls,
                "hash": self.generator.checkpoint_hash}


@pytest.fixture(scope="module")
def lesionmix(demo):
    from augkit.io import read_dataset
    from augkit.registry.host import get_generator

    model = get_generator("lesionmix")()
    model.fit(read_dataset(demo).samples, progress=False)
    return model


def _run_probe(generator, num_items: int, chunk_size: int) -> list[dict]:
    from ray import cloudpickle

    from augkit.engines import ray as ray_engine

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    results: list[dict] = []
    ray_engine.run(_Probe(generator), list(range(num_items)), Engine("ray", num_workers=2, chunk_size=chunk_size),
                   lambda chunk, out: results.extend(out))
    return sorted(results, key=lambda r: r["item"])


def test_a_worker_loads_the_generator_once_for_all_its_chunks(cluster, lesionmix):
    results = _run_probe(lesionmix, 24, chunk_size=2)  # 12 chunks on 2 workers
    assert [r["item"] for r in results] == list(range(24))
    assert all(r["hash"] == lesionmix.checkpoint_hash for r in results)
    by_worker: dict[int, list[dict]] = {}
    for r in results:
        by_worker.setdefault(r["pid"], []).append(r)
    assert all(r["pid"] != os.getpid() for r in results)  # ran on workers, not in the driver
    for pid, rows in by_worker.items():
        assert len({r["generator"] for r in rows}) == 1, f"worker {pid} loaded the generator more than once"
        # one copy of the work ran all of this worker's items, across its chunks
        assert sorted(r["calls"] for r in rows) == list(range(1, len(rows) + 1))
    assert max(len(rows) for rows in by_worker.values()) > 2  # some worker served several chunks


def test_a_generator_that_reloads_with_another_checkpoint_hash_is_refused_on_the_worker(cluster, lesionmix,
                                                                                        monkeypatch):
    from augkit.engines import ray as ray_engine
    from augkit.errors import ModelError

    real_id = ray_engine._Packer.persistent_id

    def shipped_with_a_wrong_hash(self, obj):
        pid = real_id(self, obj)
        return None if pid is None else (*pid[:3], "0" * len(pid[3]))

    monkeypatch.setattr(ray_engine._Packer, "persistent_id", shipped_with_a_wrong_hash)
    with pytest.raises(ModelError, match=f"reloads on a Ray worker with checkpoint {lesionmix.checkpoint_hash}, "
                                         "not 0+; its samples would differ"):
        _run_probe(lesionmix, 4, chunk_size=2)
