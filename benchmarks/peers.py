"""augkit beside the libraries a user would pick instead, on the same data and the same
transforms, in one process, one thread, interleaved rounds.

    python benchmarks/peers.py 2d [--rounds 5] [--samples 300]   # LGG train30 slices
    python benchmarks/peers.py 3d [--rounds 3]                    # the BraTS training cases

Needs the ``bench`` extra (``pip install -e '.[bench]'``: MONAI, TorchIO and the CPU torch).

2D (LGG 256×256×3 uint8 + mask): augkit's ``ClassicalPipeline`` (the path ``expand`` takes for a
classical sample: per-index seed, fills from the sample's edge, brightness on the foreground
only, drawn parameters recorded), a bare albumentations ``Compose`` of the same ops, MONAI dict
transforms and TorchIO. 3D (BraTS 240×240×155×4 int16 + seg): augkit's ``VolumePipeline``, TorchIO
and MONAI. The ops, everywhere: one affine (rotation ±20° in-plane, in 3D also ±5° tilt about
the other two axes; shift ±10 % of each side; scale 0.9–1.1) resampled ONCE, images linear in
float32, labels nearest; a left-right flip at p = 0.5; a brightness shift of ±0.15 of the range
at p = 0.5 (TorchIO has no shift, so a ``Lambda`` that adds a seeded random offset). Each library
starts from the arrays in memory and hands back numpy arrays in the input's dtype (uint8 /
int16, labels as given): the conversions a user needs are part of its time. MONAI runs with
``set_track_meta(False)`` (its faster setting).

Rounds interleave the libraries (the order rotates each round) so the machine's load hits all
alike; reported: samples/s of the median round, each library's time ÷ augkit's, min / median /
max over rounds, the CPU time of this process, and the peak RSS of a fresh process that runs
that library alone (imports included). Writes benchmarks/results/peers/peers_{2d,3d}.{json,md}.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"):
    os.environ[_var] = "1"  # one thread everywhere, set before numpy / torch / ITK load

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from augkit.evaluate.provenance import provenance  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
OUT = HERE / "results" / "peers"
ROTATE, TILT, SHIFT, SCALE, BRIGHT = 20.0, 5.0, 0.1, 0.1, 0.15


def one_thread() -> None:
    import cv2

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


# ---------------------------------------------------------------------------------- 2D
def load_2d():
    from augkit.io import read_dataset

    return read_dataset(DATA / "lgg" / "train30").samples


def augkit_runner(pipe, samples):
    """index -> (image, mask): the variant ``expand`` makes for output index i (its seed and id)."""
    from augkit.seeding import derive_seed

    def run(i):
        parent = samples[i % len(samples)]
        out = pipe(parent, seed=derive_seed(0, i), new_id=f"{parent.id}_aug{i:05d}")
        return out.image, out.mask
    return run


def runner_2d(name: str, samples):
    """A function index -> (image, mask) for ``name``, built once."""
    side = samples[0].image.shape[0]
    if name == "augkit":
        from augkit.transforms.pipeline import ClassicalPipeline

        return augkit_runner(ClassicalPipeline(), samples)
    if name == "albumentations":
        import albumentations as A
        import cv2

        compose = A.Compose(runner_2d_ops(), mask_interpolation=cv2.INTER_NEAREST, seed=0)

        def run(i):
            s = samples[i % len(samples)]
            out = compose(image=s.image, mask=s.mask)
            return out["image"], out["mask"]
        return run
    if name == "monai":
        import torch
        from monai.data import set_track_meta
        from monai.transforms import Compose, RandAffined, RandFlipd, RandShiftIntensityd

        set_track_meta(False)
        compose = Compose([
            RandAffined(keys=["image", "mask"], prob=1.0, rotate_range=(np.deg2rad(ROTATE),),
                        translate_range=(SHIFT * side, SHIFT * side), scale_range=(SCALE, SCALE),
                        mode=("bilinear", "nearest"), padding_mode="zeros"),
            RandFlipd(keys=["image", "mask"], spatial_axis=1, prob=0.5),
            RandShiftIntensityd(keys="image", offsets=BRIGHT * 255, prob=0.5),
        ]).set_random_state(0)

        def run(i):
            s = samples[i % len(samples)]
            data = {"image": torch.from_numpy(np.ascontiguousarray(s.image.transpose(2, 0, 1), np.float32)),
                    "mask": torch.from_numpy(s.mask[None].astype(np.float32))}
            out = compose(data)
            image = np.clip(np.rint(out["image"].numpy()), 0, 255).astype(np.uint8).transpose(1, 2, 0)
            return image, out["mask"].numpy()[0].astype(s.mask.dtype)
        return run
    if name == "torchio":
        import torch
        import torchio as tio

        compose = tio.Compose([
            tio.RandomAffine(scales=(1 - SCALE, 1 + SCALE, 1 - SCALE, 1 + SCALE, 1, 1), isotropic=False,
                             degrees=(0, 0, 0, 0, -ROTATE, ROTATE),
                             translation=(-SHIFT * side, SHIFT * side, -SHIFT * side, SHIFT * side, 0, 0),
                             default_pad_value=0, image_interpolation="linear", label_interpolation="nearest"),
            tio.RandomFlip(axes=(0,), flip_probability=0.5),
            _torchio_shift(BRIGHT * 255),
        ])

        def run(i):
            s = samples[i % len(samples)]
            torch.manual_seed(i)
            subject = tio.Subject(
                image=tio.ScalarImage(tensor=torch.from_numpy(np.ascontiguousarray(
                    s.image.transpose(2, 0, 1)[..., None], np.float32))),
                mask=tio.LabelMap(tensor=torch.from_numpy(s.mask[None, ..., None].astype(np.int16))))
            out = compose(subject)
            image = np.clip(np.rint(out["image"].data.numpy()[..., 0]), 0, 255).astype(np.uint8).transpose(1, 2, 0)
            return image, out["mask"].data.numpy()[0, ..., 0].astype(s.mask.dtype)
        return run
    raise ValueError(name)


def _torchio_shift(amplitude: float):
    """TorchIO has no brightness shift: add one seeded random offset, at p = 0.5, to images."""
    import torch
    import torchio as tio

    def shift(tensor):
        return tensor + float(torch.empty(1).uniform_(-amplitude, amplitude))

    return tio.Lambda(shift, types_to_apply=[tio.INTENSITY], p=0.5)


# ---------------------------------------------------------------------------------- 3D
def load_3d():
    """The BraTS training cases as augkit reads them (X×Y×Z×4 int16 + seg), in memory."""
    from augkit.io import read_dataset

    cases = read_dataset(DATA / "brats", unit="case").samples
    return [cases[k] for k in range(len(cases))]


def runner_3d(name: str, cases):
    shape = np.asarray(cases[0].image.shape[:3])
    if name == "augkit":
        from augkit.transforms.volume import VolumePipeline

        return augkit_runner(VolumePipeline(), cases)
    if name == "monai":
        import torch
        from monai.data import set_track_meta
        from monai.transforms import Compose, RandAffined, RandFlipd, RandShiftIntensityd

        set_track_meta(False)
        rad = np.deg2rad
        compose = Compose([
            RandAffined(keys=["image", "seg"], prob=1.0, rotate_range=(rad(TILT), rad(TILT), rad(ROTATE)),
                        translate_range=tuple(SHIFT * shape), scale_range=(SCALE, SCALE, SCALE),
                        mode=("bilinear", "nearest"), padding_mode="zeros"),
            RandFlipd(keys=["image", "seg"], spatial_axis=0, prob=0.5),
            RandShiftIntensityd(keys="image", offsets=BRIGHT * 1000, prob=0.5),
        ]).set_random_state(0)

        def run(i):
            c = cases[i % len(cases)]
            data = {"image": torch.from_numpy(np.ascontiguousarray(np.moveaxis(c.image, -1, 0), np.float32)),
                    "seg": torch.from_numpy(c.mask[None].astype(np.float32))}
            out = compose(data)
            image = np.moveaxis(np.clip(np.rint(out["image"].numpy()), -32768, 32767).astype(np.int16), 0, -1)
            return image, out["seg"].numpy()[0].astype(c.mask.dtype)
        return run
    if name == "torchio":
        import torch
        import torchio as tio

        compose = tio.Compose([
            tio.RandomAffine(scales=(1 - SCALE, 1 + SCALE), isotropic=True, degrees=(TILT, TILT, ROTATE),
                             translation=tuple(SHIFT * shape), default_pad_value=0,
                             image_interpolation="linear", label_interpolation="nearest"),
            tio.RandomFlip(axes=(0,), flip_probability=0.5),
            _torchio_shift(BRIGHT * 1000),
        ])

        def run(i):
            c = cases[i % len(cases)]
            torch.manual_seed(i)
            subject = tio.Subject(
                image=tio.ScalarImage(tensor=torch.from_numpy(np.ascontiguousarray(np.moveaxis(c.image, -1, 0),
                                                                                   np.float32))),
                seg=tio.LabelMap(tensor=torch.from_numpy(c.mask[None].astype(np.int16))))
            out = compose(subject)
            image = np.moveaxis(np.clip(np.rint(out["image"].data.numpy()), -32768, 32767).astype(np.int16), 0, -1)
            return image, out["seg"].data.numpy()[0].astype(c.mask.dtype)
        return run
    raise ValueError(name)


def augkit_2d_breakdown(samples, num: int = 600) -> dict[str, float]:
    """Where augkit's time per 2D variant goes beyond the bare Compose: CPU ms per sample of
    each step of ``ClassicalPipeline.__call__``, timed on its own (thread time)."""
    import albumentations as A
    import cv2

    from augkit.seeding import derive_seed
    from augkit.transforms.pipeline import ClassicalPipeline, _applied_params

    pipe = ClassicalPipeline()
    bare = A.Compose([op for op in runner_2d_ops()], mask_interpolation=cv2.INTER_NEAREST, seed=0)
    s0 = samples[0]
    applied = pipe._compose(image=s0.image, mask=s0.mask)["applied_transforms"]

    def ms(fn) -> float:
        fn(0)
        t0 = time.thread_time()
        for i in range(num):
            fn(i)
        return round((time.thread_time() - t0) / num * 1e3, 4)

    pick = lambda i: samples[i % len(samples)]  # noqa: E731
    return {
        "whole __call__ (per-index seed, fills, compose, params, provenance)":
            ms(lambda i: pipe(pick(i), seed=derive_seed(0, i), new_id="x")),
        "bare albumentations Compose, same ops": ms(lambda i: bare(image=pick(i).image, mask=pick(i).mask)),
        "augkit's Compose (foreground-only brightness, applied params saved)":
            ms(lambda i: pipe._compose(image=pick(i).image, mask=pick(i).mask)),
        "per-op seeding (SeedSequence + albumentations set_random_seed x3)": ms(lambda i: pipe._seed(i)),
        "fills from the sample's edge (median, most common label)":
            ms(lambda i: pipe._set_border_fills(pick(i).image, pick(i).mask)),
        "drawn parameters made JSON-able": ms(lambda i: _applied_params(applied)),
        "derive_seed": ms(lambda i: derive_seed(0, i)),
    }


def runner_2d_ops():
    import albumentations as A
    import cv2

    return [A.Affine(rotate=(-ROTATE, ROTATE), translate_percent=(-SHIFT, SHIFT), scale=(1 - SCALE, 1 + SCALE),
                     p=1.0, border_mode=cv2.BORDER_CONSTANT),
            A.HorizontalFlip(p=0.5),
            A.RandomBrightnessContrast(brightness_limit=(-BRIGHT, BRIGHT), contrast_limit=(0, 0), p=0.5)]


NOTES = {
    "2d": "Resampling, once per sample: augkit and albumentations cv2.warpAffine on the uint8 image "
          "(linear) and mask (nearest); MONAI torch grid_sample on float32 channels-first (bilinear, "
          "labels nearest); TorchIO one SimpleITK resample per channel in float32 (linear, labels "
          "nearest). augkit's extras over the bare Compose: per-index seeds, fills from each sample's "
          "edge, brightness on the foreground only, the drawn parameters recorded.",
    "3d": "Resampling, once per case: augkit composes the ops into one voxel mapping and runs "
          "scipy.ndimage.affine_transform per channel (order 1 from the int16 values, float32 out, "
          "rounded back to int16; seg order 0), only in the box that can hold anything but fill; "
          "TorchIO RandomAffine: one SimpleITK resample per channel, linear in float32, seg nearest; "
          "MONAI RandAffined: one torch grid_sample over the 4 channels, bilinear in float32, seg "
          "nearest. Flip and intensity shift after, in every library.",
}


LIBRARIES = {"2d": ("augkit", "albumentations", "monai", "torchio"), "3d": ("augkit", "torchio", "monai")}


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":")) / 1024


def child(dim: str, name: str, num: int) -> None:
    """A fresh process that runs one library alone: its peak RSS while it makes ``num``
    samples (imports included), and that peak above the resident data."""
    one_thread()
    data = load_2d() if dim == "2d" else load_3d()
    import gc

    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM): loading is not the library's
        fh.write("5")
    before = _status_mib("VmRSS")
    run = (runner_2d if dim == "2d" else runner_3d)(name, data)
    for i in range(num):
        run(i)
    peak = _status_mib("VmHWM")
    print(json.dumps({"rss_with_data_mib": round(before, 1), "peak_rss_mib": round(peak, 1),
                      "peak_above_data_mib": round(peak - before, 1)}))


def peak_rss(dim: str, name: str, num: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "_child", dim, name, str(num)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dim", choices=["2d", "3d", "_child"])
    ap.add_argument("rest", nargs="*")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--samples", type=int, default=None, help="per library and round (2D: 300, 3D: 4)")
    ap.add_argument("--libraries", nargs="*", default=None)
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--md-only", action="store_true")
    ap.add_argument("--rss-only", action="store_true", help="measure peak RSS again into an earlier run's json")
    args = ap.parse_args()
    if args.md_only or args.rss_only:  # rebuild the md (after new RSS figures) from an earlier run's json
        result = json.loads((args.out / f"peers_{args.dim}.json").read_text())
        if args.rss_only:
            num = args.samples or (20 if args.dim == "2d" else 2)
            result["peak_rss"] = {n: peak_rss(args.dim, n, num) for n in result["libraries"]}
            (args.out / f"peers_{args.dim}.json").write_text(json.dumps({**result, "provenance": provenance()}, indent=1) + "\n")
        (args.out / f"peers_{args.dim}.md").write_text(_markdown(result))
        return
    if args.dim == "_child":
        child(args.rest[0], args.rest[1], int(args.rest[2]))
        return
    dim = args.dim
    rounds = args.rounds or (5 if dim == "2d" else 3)
    num = args.samples or (300 if dim == "2d" else 4)
    names = args.libraries or list(LIBRARIES[dim])
    one_thread()
    load_avg_start = os.getloadavg()
    data = load_2d() if dim == "2d" else load_3d()
    runners = {n: (runner_2d if dim == "2d" else runner_3d)(n, data) for n in names}
    for n in names:  # warm-up: first-call costs (imports, caches) are not the steady rate
        runners[n](0)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(num):
                runners[n](r * num + i)
            wall[n].append(time.perf_counter() - t0)
            cpu[n].append(time.process_time() - c0)
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {wall[n][-1]:.2f} s" for n in names), flush=True)
    breakdown = augkit_2d_breakdown(data) if dim == "2d" and "augkit" in names else None
    rss = {} if args.no_rss else {n: peak_rss(dim, n, min(num, 20 if dim == "2d" else 2)) for n in names}
    base = "augkit"
    per_round = {n: [w / a for w, a in zip(wall[n], wall[base])] for n in names}
    result = {
        "dim": dim, "data": "LGG train30 (256x256x3 uint8 + mask)" if dim == "2d" else
        f"BraTS training cases ({len(data)}, 240x240x155x4 int16 + seg)",
        "samples_per_round": num, "rounds": rounds, "libraries": names,
        "versions": _versions(names),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, python {platform.python_version()}",
        "load_average_start": load_avg_start, "load_average_end": os.getloadavg(),
        "wall_s": wall, "cpu_s": cpu,
        "samples_per_s_median": {n: num / statistics.median(wall[n]) for n in names},
        "time_over_augkit_median": {n: statistics.median(per_round[n]) for n in names},
        "time_over_augkit_min_max": {n: [min(per_round[n]), max(per_round[n])] for n in names},
        "cpu_over_augkit_median_rounds": {n: statistics.median(cpu[n]) / statistics.median(cpu[base]) for n in names},
        "peak_rss": rss,
        "augkit_2d_breakdown_cpu_ms": breakdown,
        "command": "python benchmarks/peers.py " + " ".join(sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"peers_{dim}.json").write_text(json.dumps({**result, "provenance": provenance()}, indent=1) + "\n")
    md = _markdown(result)
    (args.out / f"peers_{dim}.md").write_text(md)
    print(md)


def _versions(names) -> dict[str, str]:
    from importlib.metadata import version

    dists = {"augkit": "augkit", "albumentations": "albumentations", "monai": "monai", "torchio": "torchio"}
    out = {n: version(dists[n]) for n in names}
    for extra in ("numpy", "scipy", "torch", "opencv-python-headless", "SimpleITK"):
        try:
            out[extra] = version(extra)
        except Exception:  # noqa: BLE001 - a library a peer did not need
            pass
    return out


def _markdown(r: dict) -> str:
    names = r["libraries"]
    lines = [f"# Peers side by side, {r['dim'].upper()}: {r['data']}", "",
             f"`{r['command']}`: {r['samples_per_round']} samples per library and round, {r['rounds']} "
             f"interleaved rounds, one thread. {r['machine']}; load average {r['load_average_start'][0]:.1f} "
             f"at the start, {r['load_average_end'][0]:.1f} at the end (the 2 cores are shared with other "
             "work: read the ratios). Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".",
             "", "| library | samples/s (median round) | wall s per round min / median / max | time ÷ augkit "
             "(median of rounds, min–max) | CPU ÷ augkit | peak RSS MiB, alone (above the data) |",
             "|---|---:|---:|---:|---:|---:|"]
    notes = NOTES.get(r["dim"])
    for n in names:
        w = r["wall_s"][n]
        lo, hi = r["time_over_augkit_min_max"][n]
        m = r["peak_rss"].get(n, {})
        rss = f"{m['peak_rss_mib']:.0f} ({m['peak_above_data_mib']:.0f})" if "peak_above_data_mib" in m else ""
        lines.append(f"| {n} | {r['samples_per_s_median'][n]:.2f} | {min(w):.2f} / {statistics.median(w):.2f} / "
                     f"{max(w):.2f} | {r['time_over_augkit_median'][n]:.2f}× ({lo:.2f}–{hi:.2f}) | "
                     f"{r['cpu_over_augkit_median_rounds'][n]:.2f}× | {rss} |")
    if notes:
        lines += ["", notes]
    if r.get("augkit_2d_breakdown_cpu_ms"):
        lines += ["", "Where augkit's time per 2D variant goes (CPU ms per sample, each step timed on its own "
                  "after the rounds):", "", "| step | ms |", "|---|---:|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in r["augkit_2d_breakdown_cpu_ms"].items()]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
