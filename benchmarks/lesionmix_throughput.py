"""Throughput of ``augkit expand --generator lesionmix`` against classical-only expand, in one
run on the same data (LGG train30 30 -> 300, with I/O: read once, transform, write TIFF,
manifest). Repeats are interleaved (classical, lesionmix, classical, ...) so machine load hits
both alike; the ratio of medians is reported, of wall time and of this process's CPU time (on a
shared 2-core machine the CPU time is the steadier of the two). ``--before FILE``: the
throughput.json of a run on the code before a change, shown beside this run in the md.

    python benchmarks/lesionmix_throughput.py [--data ../shared/data/lgg/train30] [--repeats 5]

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


def transplant_stages(gen, samples, num: int = 150) -> dict[str, float]:
    """CPU ms per 2D transplant (``LesionMix.transplant`` on the real slices) and in each of its
    steps, by wrapping the functions it calls with a thread-time counter."""
    import augkit_lesionmix.carve as carve
    import augkit_lesionmix.generator as generator
    from augkit.seeding import rng_for

    spent: dict[str, float] = {}
    saved = []

    def wrap(module, name, label):
        original = getattr(module, name)

        def timed(*a, **k):
            t0 = time.thread_time()
            try:
                return original(*a, **k)
            finally:
                spent[label] = spent.get(label, 0.0) + time.thread_time() - t0
        saved.append((module, name, original))
        setattr(module, name, timed)

    labels = {"brain_mask": "brain mask (foreground, components, holes, inset)",
              "_grow": "gap around the recipient's lesion", "elastic_field": "elastic field (Gaussian of the noise)",
              "warp": "warp of the donor crop (rotation, scale, flip, elastic)"}
    for name, label in labels.items():
        wrap(generator, name, label)
    for name, label in {"support_of": "feathered support", "valid_centres": "placement map (FFT)",
                        "match_intensity": "intensity matching", "paste": "blend", "to_dtype": "cast back"}.items():
        wrap(carve, name, label)
    wrap(generator, "place_and_paste", "place and paste, in all")
    stats_of = carve.BrainStats.__dict__["of"]

    def of(cls, *a):
        t0 = time.thread_time()
        try:
            return stats_of.__func__(cls, *a)
        finally:
            spent["brain intensity stats"] = spent.get("brain intensity stats", 0.0) + time.thread_time() - t0
    carve.BrainStats.of = classmethod(of)
    try:
        for i in range(10):
            gen.transplant(samples[i % len(samples)], rng_for(0, i))
        spent.clear()
        t0 = time.thread_time()
        for i in range(num):
            gen.transplant(samples[i % len(samples)], rng_for(0, i))
        total = time.thread_time() - t0
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
        carve.BrainStats.of = stats_of
    return {"transplant, in all": round(total / num * 1e3, 3),
            **{k: round(v / num * 1e3, 3) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=HERE / "../../shared/data/lgg/train30")
    ap.add_argument("--to", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=HERE / "results/lesionmix")
    args = ap.parse_args(argv)
    data = read_dataset(args.data)
    started = time.perf_counter()
    gen = get_generator("lesionmix")()
    gen.fit(data.samples, progress=False)
    fit_seconds = time.perf_counter() - started
    conditions = {"classical": (None, 0.0), "lesionmix@0.5": (gen, 0.5), "lesionmix@1": (gen, 1.0)}
    times: dict[str, list[float]] = {name: [] for name in conditions}
    cpu: dict[str, list[float]] = {name: [] for name in conditions}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, (generator, fraction) in conditions.items():
                out = Path(tmp) / f"{name}-{r}"
                t0, c0 = time.perf_counter(), time.process_time()
                expand(args.data, args.to, out, seed=r, generator=generator, gan_fraction=fraction,
                       progress=False, dataset=data)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    stages = transplant_stages(gen, data.samples)
    added = args.to - len(data)
    med = {name: statistics.median(t) for name, t in times.items()}
    med_cpu = {name: statistics.median(t) for name, t in cpu.items()}
    result = {
        "data": os.path.relpath(args.data.resolve(), HERE.parent), "image_shape": list(data.samples[0].image.shape),
        "num_real": len(data), "target": args.to, "repeats": args.repeats, "fit_seconds": round(fit_seconds, 3),
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "added_samples_per_second": {k: round(added / v, 1) for k, v in med.items()},
        "ratio_to_classical": {k: round(v / med["classical"], 2) for k, v in med.items() if k != "classical"},
        "cpu_seconds": {k: [round(x, 3) for x in v] for k, v in cpu.items()},
        "cpu_ratio_to_classical": {k: round(v / med_cpu["classical"], 2) for k, v in med_cpu.items()
                                   if k != "classical"},
        "transplant_cpu_ms": stages,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end",
        "command": "python benchmarks/lesionmix_throughput.py",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    from augkit.evaluate.provenance import provenance
    result["provenance"] = provenance()  # the code, packages and machine of this result
    (args.out / "throughput.json").write_text(json.dumps(result, indent=1))
    before = json.loads(args.before.read_text()) if args.before else None
    lines = ["# lesionmix expand throughput", "",
             f"`expand` {result['data']} {len(data)} → {args.to} with I/O (read once, transform, write "
             f"TIFF, manifest), {args.repeats} interleaved repeats; lesionmix fitted once "
             f"({fit_seconds:.2f} s: carving {len(gen.donors)} lesions). {result['machine']}.", "",
             "| condition | wall s min / median / max | added samples/s | time ÷ classical (wall) "
             "| CPU s (median) | time ÷ classical (CPU) |", "|---|---:|---:|---:|---:|---:|"]
    for k in conditions:
        ratio = "1.00" if k == "classical" else f"{result['ratio_to_classical'][k]:.2f}"
        cpu_ratio = "1.00" if k == "classical" else f"{result['cpu_ratio_to_classical'][k]:.2f}"
        lines.append(f"| {k} | {min(times[k]):.2f} / {med[k]:.2f} / {max(times[k]):.2f} | {added / med[k]:.0f} "
                     f"| {ratio}× | {med_cpu[k]:.2f} | {cpu_ratio}× |")
    if before:
        lines += ["", f"Before (the same script on the code before the change, {before['machine']}):", "",
                  "| condition | wall s (median) | time ÷ classical (wall) | time ÷ classical (CPU) |",
                  "|---|---:|---:|---:|"]
        for k in conditions:
            b = before["median_seconds"][k]
            r = "1.00" if k == "classical" else f"{before['ratio_to_classical'][k]:.2f}"
            c = "1.00" if k == "classical" else f"{before.get('cpu_ratio_to_classical', {}).get(k, float('nan')):.2f}"
            lines.append(f"| {k} | {b:.2f} | {r}× | {c}× |")
    lines += ["", "Where a 2D transplant's time goes (CPU ms per transplant on the real slices; the steps "
              "nest: place and paste holds the placement map, support, matching, blend and cast):", "",
              "| step | now |" + (" before |" if before and before.get("transplant_cpu_ms") else ""),
              "|---|---:|" + ("---:|" if before and before.get("transplant_cpu_ms") else "")]
    for k, v in stages.items():
        was = (before or {}).get("transplant_cpu_ms", {})
        lines.append(f"| {k} | {v:.2f} |" + (f" {was.get(k, float('nan')):.2f} |" if was else ""))
    lines += ["", "`lesionmix@f`: a share f of the added samples get a transplanted lesion (each one is "
              "also a classical variant); the rest are classical variants.", ""]
    (args.out / "throughput.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
