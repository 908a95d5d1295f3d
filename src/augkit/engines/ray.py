"""The ``ray`` engine: chunks of items (output indices, shard numbers) run as Ray tasks.

The work object (the sample maker with its real samples, or the shard writer) is put into
Ray's object store once; each worker process unpacks it on its first task and keeps it for the
next ones, so a generator is loaded once per worker, not once per chunk. A generator travels as
its own saved folder (``save`` / ``load``, the plugin contract), never as a pickled model, and
is refused on the worker if it reloads with another checkpoint hash. Workers write the usual
files straight into the output's staging folder, which must therefore be on storage every node
sees. A worker that dies (killed, out of memory) has its task retried by Ray
(``max_retries``); a retried chunk skips the items its first try finished, and the items' files
are rewritten with the same bytes. Only ``augkit.engines`` imports this module, and only when
``--engine ray`` is asked for.
"""

from __future__ import annotations

import io
import logging
import pickle
import shutil
import socket
import tarfile
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import cloudpickle

from augkit.engines.base import Engine, Work
from augkit.errors import AugkitError, ModelError, UsageError
from augkit.generators.contract import Generator

_TAG = "augkit-generator"
_CACHE: dict[str, Any] = {}  # in a worker process: the work of the run it last served


def run(work: Work, items: list[int], engine: Engine,
        on_done: Callable[[list[int], list[Any]], None]) -> None:
    started_here = _connect(engine)
    try:
        _run(work, items, engine, on_done)
    finally:
        if started_here:
            ray.shutdown()


def check_address(address: str | None) -> None:
    """A HOST:PORT address must answer now; ``auto``, ``local`` and Ray Client (``ray://``)
    addresses are left to Ray."""
    if address is None or address in ("auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=10).close()
    except (OSError, ValueError) as exc:
        raise UsageError(f"--address {address}: no Ray cluster answers there ({exc}). Fix: start one "
                         "with `ray start --head` and give the address it prints (HOST:PORT), or "
                         "leave --address out for a local one.") from None


def _connect(engine: Engine) -> bool:
    """Join the cluster at ``engine.address`` (or ``RAY_ADDRESS``, or start a local one); True
    when this call started the connection (and so must end it)."""
    if ray.is_initialized():
        return False
    check_address(engine.address)
    try:
        ray.init(address=engine.address, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False)
    except ConnectionError as exc:
        raise UsageError(f"--address {engine.address}: no Ray cluster found ({exc}). Fix: start one "
                         "with `ray start --head`, or leave --address out for a local one.") from None
    return True


def num_workers(engine: Engine) -> int:
    if engine.num_workers is not None:
        return engine.num_workers
    resources = ray.cluster_resources()
    if engine.gpus_per_worker:
        count = int(resources.get("GPU", 0) // engine.gpus_per_worker)
        if count < 1:
            raise UsageError(f"--gpus-per-worker {engine.gpus_per_worker}: the Ray cluster has "
                             f"{resources.get('GPU', 0):g} GPU(s). Fix: add GPU nodes or lower it.")
        return count
    return max(1, int(resources.get("CPU", 1)))


def chunks_of(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _run(work: Work, items: list[int], engine: Engine,
         on_done: Callable[[list[int], list[Any]], None]) -> None:
    workers = num_workers(engine)
    size = engine.chunk_size or max(1, -(-len(items) // (8 * workers)))
    chunks = iter(chunks_of(items, size))
    key = uuid.uuid4().hex  # one run's work; a worker serving several runs tells them apart
    box = [ray.put(pack(work))]  # in a list, so a task receives the reference, not the bytes
    task = _run_chunk.options(num_cpus=1, num_gpus=engine.gpus_per_worker or 0,
                              max_retries=engine.max_retries, retry_exceptions=False)
    pending: dict[Any, list[int]] = {}

    def submit() -> None:
        chunk = next(chunks, None)
        if chunk is not None:
            pending[task.remote(key, box, chunk)] = chunk

    try:
        for _ in range(workers):  # at most num_workers tasks at a time
            submit()
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                chunk = pending.pop(ref)
                on_done(chunk, _result(ref, chunk))
                submit()
    except BaseException:
        for ref in pending:  # nothing may go on writing into the staging folder after we return
            ray.cancel(ref, force=True)
        raise


def _result(ref, chunk: list[int]) -> list[Any]:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, AugkitError):
            raise exc.cause from None  # the user's mistake, met on a worker: the same one line
        raise
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError) as exc:
        raise UsageError(f"Ray gave up on items {chunk[0]}..{chunk[-1]}: their worker died on every "
                         f"try ({type(exc).__name__}). The finished items are kept; run the same command "
                         "again to resume (a worker out of memory needs fewer per node).") from None


@ray.remote
def _run_chunk(key: str, box: list, items: list[int]) -> list[Any]:
    work = _CACHE.get(key)
    if work is None:
        _CACHE.clear()  # an earlier run's work (its generator) is not kept alive
        work = _CACHE[key] = unpack(ray.get(box[0]))
    return [work.run(item) for item in items]


# ---- packing: the work pickled, any generator in it replaced by its saved folder

class _Packer(cloudpickle.CloudPickler):
    def persistent_id(self, obj: Any):
        if isinstance(obj, Generator):
            return (_TAG, obj.name, _saved_folder_bytes(obj), obj.checkpoint_hash)
        return None


class _Unpacker(pickle.Unpickler):
    def persistent_load(self, pid: Any):
        tag, name, blob, checkpoint_hash = pid
        if tag != _TAG:
            raise pickle.UnpicklingError(f"unknown persistent id {tag!r}")
        return _load_generator(name, blob, checkpoint_hash)


def pack(work: Work) -> bytes:
    buffer = io.BytesIO()
    _Packer(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(work)
    return buffer.getvalue()


def unpack(data: bytes) -> Work:
    return _Unpacker(io.BytesIO(data)).load()


def _saved_folder_bytes(generator: Generator) -> bytes:
    folder = Path(tempfile.mkdtemp(prefix="augkit-ray-"))
    try:
        generator.save(folder / "model")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(folder / "model", arcname="model")
        return buffer.getvalue()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _load_generator(name: str, blob: bytes, checkpoint_hash: str) -> Generator:
    from augkit.registry.host import get_generator

    folder = Path(tempfile.mkdtemp(prefix="augkit-ray-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
            tar.extractall(folder, filter="data")
        generator = get_generator(name).load(folder / "model")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if generator.checkpoint_hash != checkpoint_hash:
        raise ModelError(f"generator {name!r} reloads on a Ray worker with checkpoint {generator.checkpoint_hash}, "
                         f"not {checkpoint_hash}; its samples would differ from a local run. Fix: use "
                         "--engine local, or save the model with `augkit train` and pass --model.")
    return generator
