"""expand with a trained pix2pix: 30 -> 300 with the stated real / classical / GAN mix, masks
exact, written in the input's format. Records the mix, the wall time and a grid of GAN pairs
read back from the output folder (what a user gets, not what the model holds in memory).

    python benchmarks/gan_expand.py --name lgg --in ../shared/data/lgg/train30 \
        --model /path/to/pix2pix_model --to 300
    python benchmarks/gan_expand.py --name brats --in ../shared/data/brats --model ... --to 300

Writes benchmarks/results/gan_expand/<name>.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from augkit.api import load_model  # noqa: E402
from augkit.expand.manifest import read_manifest  # noqa: E402
from augkit.expand.run import expand  # noqa: E402
from augkit.io import read_dataset  # noqa: E402

HERE = Path(__file__).resolve().parent


def display(image: np.ndarray, channel: int | None) -> np.ndarray:
    img = image.astype(np.float32)
    img = img[..., channel] if channel is not None else img[..., :3]
    lo, hi = np.percentile(img, 1), np.percentile(img, 99.5)
    return np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--in", dest="in_dir", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--to", type=int, default=300)
    parser.add_argument("--gan-fraction", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "gan_expand")
    args = parser.parse_args()

    generator = load_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "expanded"
        start = time.perf_counter()
        result = expand(args.in_dir, args.to, out, seed=0, generator=generator,
                        gan_fraction=args.gan_fraction, progress=False)
        wall = time.perf_counter() - start
        rows = read_manifest(out / "manifest.csv")
        back = {s.id: s for s in read_dataset(out)}
        num_read_back = len(back)
        real_values = sorted({int(v) for s in read_dataset(args.in_dir) for v in np.unique(s.mask)})
        out_values = sorted({int(v) for s in back.values() for v in np.unique(s.mask)})
        gan_rows = [r for r in rows if r["source"] == "gan"]
        picked = gan_rows[:: max(1, len(gan_rows) // 6)][:6]
        for row in picked:
            if row["id"] not in back:  # NIfTI: each sample is its own case folder, read it alone
                folder = out / Path(row["files"].split(";")[0]).parent
                back[row["id"]] = read_dataset(folder, format="brats", slices="all").samples[0]
        channels = back[picked[0]["id"]].image.shape[-1]
        channel = 1 if channels == 3 else 0  # FLAIR: LGG channel 1, BraTS channel 0
        fig, axes = plt.subplots(2, len(picked), figsize=(2.2 * len(picked), 4.6))
        for col, row in enumerate(picked):
            sample = back[row["id"]]
            axes[0, col].imshow(display(sample.image, channel), cmap="gray")
            axes[0, col].contour(sample.mask > 0, levels=[0.5], colors="r", linewidths=0.6)
            axes[0, col].set_title(row["id"].split("/")[-1][-14:], fontsize=7)
            axes[1, col].imshow(sample.mask, cmap="viridis", interpolation="nearest")
        for ax in axes.flat:
            ax.axis("off")
        fig.suptitle(f"{args.name}: GAN samples read back from the expand output "
                     f"(FLAIR, mask outline in red; mask below)", fontsize=9)
        fig.tight_layout()
        args.out.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out / f"{args.name}.png", dpi=80)
        plt.close(fig)

    summary = {
        "input": str(args.in_dir), "model": str(args.model), "generator": generator.name,
        "checkpoint_hash": generator.checkpoint_hash, "target": args.to,
        "gan_fraction": args.gan_fraction, "counts": dict(Counter(r["source"] for r in rows)),
        "num_rows": len(rows), "num_samples_read_back": num_read_back,
        "mask_values_input": real_values, "mask_values_output": out_values,
        "gan_rows_with_generator_and_hash": sum(1 for r in gan_rows if r["generator"] and r["checkpoint_hash"]),
        "wall_s": round(wall, 1), "format": result.out_dir and read_dataset(args.in_dir).format,
    }
    from augkit.evaluate.provenance import provenance
    summary["provenance"] = provenance()  # the code, packages and machine of this result
    (args.out / f"{args.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
