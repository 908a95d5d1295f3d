"""Whole-case expand on the shared BraTS cases: peak memory against the number of cases written,
cases/s against a plain nibabel + scipy loop, and an overlay of two new cases.

    python benchmarks/volume_throughput.py [--data ../shared/data/brats] [--targets 4 12 40]

Each ``expand --to N`` runs in its own subprocess, which reports its own peak RSS
(``resource.getrusage`` maxrss), so the runs do not share a high-water mark. The plain loop, in
this process: load the five files with nibabel, one ``scipy.ndimage.affine_transform`` of each
(order 1 images, order 0 seg) with a random rotation, save as .nii.gz, for as many new cases.
The overlay (two new cases of the --to 12 run, axial / coronal / sagittal through the tumour,
FLAIR with the seg outline) goes to results/volumes/overlay.png.

Writes benchmarks/results/volumes/volume_throughput.{json,md} and overlay.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "volumes"
KINDS = ("flair", "t1", "t1ce", "t2", "seg")

_CHILD = r"""
import json, resource, sys, time
from augkit.expand.run import expand
start = time.perf_counter()
result = expand(sys.argv[1], int(sys.argv[2]), sys.argv[3], seed=0, progress=False)
print(json.dumps({"seconds": time.perf_counter() - start, "counts": result.counts,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_expand(data: Path, target: int, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(data), str(target), str(out)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def plain_loop(data: Path, num: int, out: Path) -> float:
    """Seconds for ``num`` new cases the way a hand-written script makes them."""
    cases = sorted(p for p in data.iterdir() if p.is_dir())
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for i in range(num):
        case = cases[i % len(cases)]
        angle = np.deg2rad(rng.uniform(-20, 20))
        rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        for kind in KINDS:
            img = nib.load(case / f"{case.name}_{kind}.nii.gz")
            data_ = np.asarray(img.dataobj)
            centre = (np.asarray(data_.shape) - 1) / 2
            moved = ndimage.affine_transform(data_.astype(np.float32), rot, offset=centre - rot @ centre,
                                             order=0 if kind == "seg" else 1)
            nib.save(nib.Nifti1Image(np.rint(moved).astype(np.int16), img.affine, img.header),
                     out / f"{i}_{kind}.nii.gz")
    return time.perf_counter() - start


def check_output(data: Path, out: Path) -> dict:
    """Every new case: labels within {0,1,2,4}, affine = the parent's, BraTS layout."""
    from augkit.expand.manifest import read_manifest

    rows = [r for r in read_manifest(out / "manifest.csv") if r["source"] != "real"]
    bad_labels, bad_affine = [], []
    for row in rows:
        files = row["files"].split(";")
        assert [Path(f).name for f in files] == [f"{row['id']}_{k}.nii.gz" for k in KINDS]
        parent = nib.load(data / row["parent_id"] / f"{row['parent_id']}_flair.nii.gz")
        seg = nib.load(out / files[-1])
        if not set(np.unique(np.asarray(seg.dataobj)).tolist()) <= {0, 1, 2, 4}:
            bad_labels.append(row["id"])
        if not all(np.array_equal(nib.load(out / f).affine, parent.affine) for f in files):
            bad_affine.append(row["id"])
    return {"num_new_cases": len(rows), "bad_labels": bad_labels, "bad_affine": bad_affine}


def overlay(data: Path, out: Path, path: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba
    from skimage.segmentation import find_boundaries

    from augkit.expand.manifest import read_manifest

    rows = [r for r in read_manifest(out / "manifest.csv") if r["source"] != "real"][:2]
    colours = {1: "red", 2: "yellow", 4: "cyan"}
    fig, axes = plt.subplots(len(rows), 4, figsize=(16, 4.6 * len(rows)))
    for r, row in enumerate(rows):
        files = row["files"].split(";")
        flair = np.asarray(nib.load(out / files[0]).dataobj).astype(float)
        seg = np.asarray(nib.load(out / files[-1]).dataobj)
        parent_flair = np.asarray(nib.load(data / row["parent_id"] / f"{row['parent_id']}_flair.nii.gz").dataobj)
        parent_seg = np.asarray(nib.load(data / row["parent_id"] / f"{row['parent_id']}_seg.nii.gz").dataobj)
        cx, cy, cz = (int(round(v)) for v in ndimage.center_of_mass(seg > 0))
        pz = int(round(ndimage.center_of_mass(parent_seg > 0)[2]))
        views = [("parent axial z=%d" % pz, parent_flair[:, :, pz], parent_seg[:, :, pz]),
                 ("new axial z=%d" % cz, flair[:, :, cz], seg[:, :, cz]),
                 ("new coronal y=%d" % cy, flair[:, cy, :], seg[:, cy, :]),
                 ("new sagittal x=%d" % cx, flair[cx, :, :], seg[cx, :, :])]
        for c, (title, img, lab) in enumerate(views):
            ax = axes[r, c]
            # voxel x across, y (or z) down the rows: the array transposed, one origin for both
            # layers, so the outline sits on exactly the voxels it marks
            origin = "upper" if "axial" in title else "lower"
            ax.imshow(img.T, cmap="gray", origin=origin, interpolation="nearest")
            outline = np.zeros((*lab.T.shape, 4))
            for value, colour in colours.items():
                edge = find_boundaries(lab.T == value, mode="inner")
                outline[edge] = to_rgba(colour)
            ax.imshow(outline, origin=origin, interpolation="nearest")
            ax.set_title(f"{row['id'] if c else row['parent_id']}\n{title}", fontsize=9)
            ax.axis("off")
    fig.suptitle("augkit expand --in brats --to 12: new whole cases (FLAIR, seg outline: "
                 "1 necrotic red, 2 oedema yellow, 4 enhancing cyan)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return [r["id"] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "brats")
    parser.add_argument("--targets", type=int, nargs="+", default=[4, 12, 40])
    parser.add_argument("--plain-cases", type=int, default=8)
    args = parser.parse_args()
    data = args.data.resolve()
    OUT.mkdir(parents=True, exist_ok=True)
    num_real = sum(1 for p in data.iterdir() if p.is_dir())
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for target in args.targets:
            out = tmp / f"x{target}"
            res = run_expand(data, target, out)
            new = target - num_real
            res.update({"target": target, "num_new_cases": new,
                        "new_cases_per_s": round(new / res["seconds"], 4) if new else None})
            if target == 12 or target == args.targets[-1]:
                res["check"] = check_output(data, out)
            if target == 12:
                res["overlay_cases"] = overlay(data, out, OUT / "overlay.png")
            runs.append(res)
            print(json.dumps(res), flush=True)
            if target != 12:
                import shutil

                shutil.rmtree(out)
        (tmp / "plain").mkdir()
        plain_s = plain_loop(data, args.plain_cases, tmp / "plain")
    plain_rate = args.plain_cases / plain_s
    largest = runs[-1]
    results = {
        "data": str(args.data), "num_real_cases": num_real,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "runs": runs,
        "plain_loop": {"num_cases": args.plain_cases, "seconds": round(plain_s, 2),
                       "cases_per_s": round(plain_rate, 4)},
        "ratio_augkit_over_plain": round(largest["new_cases_per_s"] / plain_rate, 3),
    }
    from augkit.evaluate.provenance import provenance
    results["provenance"] = provenance()  # the code, packages and machine of this result
    (OUT / "volume_throughput.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Whole-case expand on the shared BraTS cases", "",
             f"{num_real} real cases, 240×240×155×4 int16 + seg; default transforms (affine with "
             "tilt, left-right flip, per-modality brightness); each run a fresh subprocess. "
             f"Machine: {os.cpu_count()} CPUs shared with other work (load average at the end "
             f"{os.getloadavg()[0]:.1f}), so absolute times are pessimistic; the ratio is the measure.", "",
             "| --to | new cases | seconds | new cases/s | peak RSS (MB) |", "|---:|---:|---:|---:|---:|"]
    for r in runs:
        lines.append(f"| {r['target']} | {r['num_new_cases']} | {r['seconds']:.1f} | "
                     f"{r['new_cases_per_s'] or '-'} | {r['maxrss_mb']:.0f} |")
    lines += ["", f"Plain loop (nibabel load + one scipy affine_transform per volume + nibabel save), "
              f"{args.plain_cases} cases: {plain_rate:.4f} cases/s. augkit at --to {largest['target']}: "
              f"{largest['new_cases_per_s']} new cases/s = **{results['ratio_augkit_over_plain']}× the plain loop**.",
              "", "Checks on every new case: " + "; ".join(
                  f"--to {r['target']}: {r['check']['num_new_cases']} new, labels outside {{0,1,2,4}}: "
                  f"{len(r['check']['bad_labels'])}, affine differing from the parent's: {len(r['check']['bad_affine'])}"
                  for r in runs if "check" in r), "", "![overlay](overlay.png)", ""]
    (OUT / "volume_throughput.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
