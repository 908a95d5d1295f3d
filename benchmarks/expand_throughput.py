"""Classical expand throughput: augkit's pipeline against a plain albumentations loop over the
same images in the same process (no I/O), and the wall time of the 30 -> 300 LGG run.

    python benchmarks/expand_throughput.py [--data ../shared/data/lgg/train30] [--repeats 5]

Writes benchmarks/results/expand_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import albumentations as A
import cv2

from augkit.expand.run import expand
from augkit.io import read_dataset
from augkit.seeding import derive_seed
from augkit.transforms.pipeline import ClassicalPipeline

HERE = Path(__file__).resolve().parent


def plain_loop(samples, n: int) -> float:
    """What a hand-written notebook does: one Compose, called on every image."""
    compose = A.Compose([
        A.Affine(rotate=(-20, 20), translate_percent=(-0.1, 0.1), scale=(0.9, 1.1), p=1.0,
                 border_mode=cv2.BORDER_CONSTANT),
        A.HorizontalFlip(p=0.5),
        A.RandomBrightnessContrast(brightness_limit=(-0.15, 0.15), contrast_limit=(0, 0), p=0.5),
    ], mask_interpolation=cv2.INTER_NEAREST, seed=0)
    start = time.perf_counter()
    for i in range(n):
        s = samples[i % len(samples)]
        compose(image=s.image, mask=s.mask)
    return time.perf_counter() - start


def augkit_loop(samples, n: int) -> float:
    """augkit's path for one classical sample: per-index seeding, parameter capture, provenance."""
    pipe = ClassicalPipeline()
    start = time.perf_counter()
    for i in range(n):
        parent = samples[i % len(samples)]
        pipe(parent, seed=derive_seed(0, i), new_id=f"{parent.id}_aug{i:05d}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parent / ".." / "shared" / "data" / "lgg" / "train30")
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    samples = read_dataset(args.data).samples
    plain_loop(samples, 50), augkit_loop(samples, 50)  # warm-up (imports, caches)
    plain, ours = [], []
    for _ in range(args.repeats):  # interleaved so drifts in machine load hit both alike
        plain.append(plain_loop(samples, args.num_samples))
        ours.append(augkit_loop(samples, args.num_samples))
    ratio = statistics.median(ours) / statistics.median(plain)

    walls = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            expand(args.data, 300, Path(tmp) / "out", seed=0, progress=False)
            walls.append(time.perf_counter() - start)

    results = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "image_shape": list(samples[0].image.shape),
        "num_samples_per_repeat": args.num_samples,
        "plain_albumentations_samples_per_s": args.num_samples / statistics.median(plain),
        "augkit_samples_per_s": args.num_samples / statistics.median(ours),
        "overhead_ratio_augkit_over_plain": ratio,
        "target_ratio": 1.25,
        "lgg_30_to_300_wall_s_median": statistics.median(walls),
        "lgg_30_to_300_wall_s_runs": walls,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    from augkit.evaluate.provenance import provenance
    results["provenance"] = provenance()  # the code, packages and machine of this result
    (args.out / "expand_throughput.json").write_text(json.dumps(results, indent=2) + "\n")
    md = (
        "# Classical expand throughput\n\n"
        f"Images: LGG train30, {tuple(samples[0].image.shape)}; {args.num_samples} samples per repeat, "
        f"median of {args.repeats} interleaved repeats, no I/O.\n\n"
        "| path | samples/s |\n|---|---|\n"
        f"| plain albumentations loop | {results['plain_albumentations_samples_per_s']:.0f} |\n"
        f"| augkit ClassicalPipeline (seeded, params recorded) | {results['augkit_samples_per_s']:.0f} |\n\n"
        f"Overhead ratio (augkit time / plain time): **{ratio:.2f}×** (target ≤ 1.25×).\n\n"
        f"`expand` LGG 30 → 300 with I/O (read, transform, write TIFF, manifest): "
        f"**{statistics.median(walls):.1f} s** wall (median of 3).\n"
    )
    (args.out / "expand_throughput.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
