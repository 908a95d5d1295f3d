"""Throughput of ``augkit expand --generator lesionmix`` against classical-only expand, in one
run on the same data (LGG train30 30 -> 300, with I/O: read once, transform, write TIFF,
manifest). Repeats are interleaved (classical, lesionmix, classical, ...) so machine load hits
both alike; the ratio of medians is reported.

    python benchmarks/lesionmix_throughput.py [--data ../shared/data/lgg/train30] [--repeats 3]

Writes benchmarks/results/lesionmix/throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from augkit.expand.run import expand
from augkit.io import read_dataset
from augkit.registry.host import get_generator

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=HERE / "../../shared/data/lgg/train30")
    ap.add_argument("--to", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results/lesionmix")
    args = ap.parse_args(argv)
    data = read_dataset(args.data)
    started = time.perf_counter()
    gen = get_generator("lesionmix")()
    gen.fit(data.samples, progress=False)
    fit_seconds = time.perf_counter() - started
    conditions = {"classical": (None, 0.0), "lesionmix@0.5": (gen, 0.5), "lesionmix@1": (gen, 1.0)}
    times: dict[str, list[float]] = {name: [] for name in conditions}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, (generator, fraction) in conditions.items():
                out = Path(tmp) / f"{name}-{r}"
                t0 = time.perf_counter()
                expand(args.data, args.to, out, seed=r, generator=generator, gan_fraction=fraction,
                       progress=False, dataset=data)
                times[name].append(time.perf_counter() - t0)
    added = args.to - len(data)
    med = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "data": os.path.relpath(args.data.resolve(), HERE.parent), "image_shape": list(data.samples[0].image.shape),
        "num_real": len(data), "target": args.to, "repeats": args.repeats, "fit_seconds": round(fit_seconds, 3),
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "added_samples_per_second": {k: round(added / v, 1) for k, v in med.items()},
        "ratio_to_classical": {k: round(v / med["classical"], 2) for k, v in med.items() if k != "classical"},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end",
        "command": "python benchmarks/lesionmix_throughput.py",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    from augkit.evaluate.provenance import provenance
    result["provenance"] = provenance()  # the code, packages and machine of this result
    (args.out / "throughput.json").write_text(json.dumps(result, indent=1))
    lines = ["# lesionmix expand throughput", "",
             f"`expand` {result['data']} {len(data)} → {args.to} with I/O (read once, transform, write "
             f"TIFF, manifest), median of {args.repeats} interleaved repeats; lesionmix fitted once "
             f"({fit_seconds:.2f} s: carving {len(gen.donors)} lesions). {result['machine']}.", "",
             "| condition | wall s (median) | added samples/s | time ÷ classical |", "|---|---:|---:|---:|"]
    for k in conditions:
        ratio = "1.00" if k == "classical" else f"{result['ratio_to_classical'][k]:.2f}"
        lines.append(f"| {k} | {med[k]:.2f} | {added / med[k]:.0f} | {ratio}× |")
    lines += ["", "`lesionmix@f`: a share f of the added samples get a transplanted lesion (each one is "
              "also a classical variant); the rest are classical variants.", ""]
    (args.out / "throughput.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
