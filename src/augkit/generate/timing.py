"""How fast and how lean ``generate_shards`` is: samples per second against a one-sample-at-a-
time baseline, in interleaved rounds (baseline, bulk, baseline, bulk ...) so that both meet the
same load on a shared machine, and the peak memory of one run (flat in N = nothing grows with
the number of samples). Peak memory is a process-wide high-water mark, so each size is measured
in a fresh process (``in_fresh_process``)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from augkit.generate.bulk import generate_shards

BATCH_SIZE, SHARD_SIZE = 256, 10_000


def speedup(baseline_samples: int, baseline_seconds: float, bulk_samples_per_second: float) -> float:
    """How many times faster ``generate_shards`` made samples than the baseline."""
    return round(bulk_samples_per_second / (baseline_samples / baseline_seconds), 2)


def timed_rounds(generator, baseline: Callable[[object, int, Path], float], *, rounds: int,
                 baseline_samples: int, bulk_samples: int, work: Path,
                 on_round: Callable[[dict], None] | None = None) -> list[dict]:
    """``rounds`` interleaved rounds of ``baseline(generator, n, out) -> seconds`` and
    ``generate_shards``, after one warm-up of each (first calls build kernels); ``work`` is
    emptied. One dict per round, also handed to ``on_round``."""
    shutil.rmtree(work, ignore_errors=True)
    baseline(generator, 20, work / "warmup-seed")
    generate_shards(generator, 256, work / "warmup-bulk", progress=False)
    done = []
    for r in range(rounds):
        naive_s = baseline(generator, baseline_samples, work / f"seed-{r}")
        bulk = generate_shards(generator, bulk_samples, work / f"bulk-{r}", shard_size=SHARD_SIZE,
                               batch_size=BATCH_SIZE, progress=False)
        shutil.rmtree(work / f"seed-{r}", ignore_errors=True)
        shutil.rmtree(work / f"bulk-{r}", ignore_errors=True)
        done.append({"round": r, "seed_way_samples_per_second": round(baseline_samples / naive_s, 1),
                     "generate_shards_samples_per_second": round(bulk["samples_per_second"], 1),
                     "speedup": speedup(baseline_samples, naive_s, bulk["samples_per_second"]),
                     "load_average": os.getloadavg()})
        if on_round is not None:
            on_round(done[-1])
    return done


def rss_mib() -> float:
    """This process's resident memory now, in MiB (Linux ``/proc``)."""
    with open("/proc/self/status") as fh:
        fields = dict(line.split(":", 1) for line in fh if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024


def peak_memory(generator, num_samples: int, out: Path) -> dict:
    """Run ``generate_shards`` once (after a small warm-up) and report this process's resident
    memory before and its peak; call it in a fresh process, as the peak never comes down."""
    generate_shards(generator, 256, out.with_name(out.name + "-warmup"), progress=False)
    before = rss_mib()
    summary = generate_shards(generator, num_samples, out, shard_size=SHARD_SIZE, batch_size=BATCH_SIZE,
                              progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    shutil.rmtree(out, ignore_errors=True)
    return {"samples": num_samples, "rss_before_mib": round(before, 1), "peak_rss_mib": round(peak, 1),
            "seconds": round(summary["seconds"], 1), "samples_per_second": round(summary["samples_per_second"], 1)}


def in_fresh_process(command: Sequence[str]) -> dict:
    """Run ``command`` (one that prints a JSON object as its last line, e.g. ``peak_memory``'s
    result) and return that object."""
    done = subprocess.run(list(command), capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
