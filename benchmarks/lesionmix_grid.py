"""Sample grids of the ``lesionmix`` generator: for a few output indices, the recipient (the
real parent after the classical pipeline, exactly as ``expand`` makes it), the donor with its
lesion outlined, the result, the result with the new mask outlined (the recipient's own lesion
in yellow, the transplanted one in red) and a close-up of the transplanted lesion's edge.

    python benchmarks/lesionmix_grid.py                       # LGG train30, alpha and poisson
    python benchmarks/lesionmix_grid.py --data ../shared/data/brats --num 4

Also reports, per sample, where the pasted lesion's intensities fall in the recipient brain's
range (share of lesion pixels inside the recipient brain's 0.5-99.5 percentile range).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def display(image: np.ndarray) -> np.ndarray:
    """H×W×3 in [0, 1] for showing: 3 channels as RGB, else the first channel in grey."""
    x = image.astype(np.float32)
    x = x[..., :3] if x.shape[-1] == 3 else np.repeat(x[..., :1], 3, axis=-1)
    top = np.percentile(x, 99.5) if image.dtype != np.uint8 else 255.0
    return np.clip(x / max(float(top), 1e-6), 0, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO / "../shared/data/lgg/train30")
    ap.add_argument("--num", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--blend", nargs="+", default=["alpha", "poisson"])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/lesionmix")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from augkit.expand.plan import plan_parents
    from augkit.io import detect_format, read_dataset
    from augkit.registry.host import get_generator
    from augkit.seeding import derive_seed
    from augkit.transforms.pipeline import ClassicalPipeline
    from augkit.transforms.anatomy import brain_mask
    from augkit_lesionmix.carve import BrainStats

    volumes = detect_format(args.data).name in ("brats", "nifti")  # lesionmix works on slices
    data = read_dataset(args.data, **({"unit": "slice"} if volumes else {}))
    reals = {s.id: s for s in data.samples}
    pipeline = ClassicalPipeline()
    args.out.mkdir(parents=True, exist_ok=True)
    tag = args.data.resolve().name
    report = {}
    for blend in args.blend:
        gen = get_generator("lesionmix")(blend=blend)
        gen.fit(data.samples, seed=args.seed, progress=False)
        fig, axes = plt.subplots(args.num, 5, figsize=(12.5, 2.6 * args.num), squeeze=False)
        inside_shares = []
        parents = plan_parents(data, len(data) + args.num, False)
        for row in range(args.num):
            index = len(data) + row
            parent = data.samples[parents[row]]
            seed = derive_seed(args.seed, index)
            recipient = pipeline(parent, seed=seed, new_id=f"{parent.id}_gan{index:05d}")
            made = next(iter(gen.generate(1, seed=seed, conditions=[recipient])))
            p = made.provenance.params
            ax = axes[row]
            ax[0].imshow(display(recipient.image))
            ax[0].contour(recipient.mask > 0, levels=[0.5], colors="yellow", linewidths=0.7)
            ax[0].set_title(f"recipient {parent.id.split('/')[-1]}", fontsize=7)
            if p["placed"]:
                donor = reals[p["donor_id"]]
                ax[1].imshow(display(donor.image))
                ax[1].contour(donor.mask > 0, levels=[0.5], colors="red", linewidths=0.7)
                ax[1].set_title(f"donor {p['donor_id'].split('/')[-1]}", fontsize=7)
            ax[2].imshow(display(made.image))
            ax[2].set_title(f"result ({blend}, rot {p.get('rotation', 0):.0f}°, "
                            f"×{p.get('scale', 1):.2f})", fontsize=7)
            ax[3].imshow(display(made.image))
            ax[3].contour(recipient.mask > 0, levels=[0.5], colors="yellow", linewidths=0.7)
            new = (made.mask > 0) & ~(recipient.mask > 0)
            ax[3].contour(new, levels=[0.5], colors="red", linewidths=0.7)
            brain = brain_mask(recipient.image, gen.settings.brain_inset * max(recipient.image.shape[:2]))
            ax[3].contour(brain, levels=[0.5], colors="cyan", linewidths=0.4)
            ax[3].set_title("new mask: own (yellow), transplanted (red), brain (cyan)", fontsize=6)
            if p["placed"]:
                cy, cx = p["centre"]
                r = int(np.sqrt(p["lesion_pixels"]) * 1.2) + 12
                y0, x0 = max(cy - r, 0), max(cx - r, 0)
                ax[4].imshow(display(made.image)[y0:cy + r, x0:cx + r], interpolation="nearest")
                ax[4].set_title("close-up of the pasted lesion", fontsize=7)
                stats = BrainStats.of(recipient.image, brain)
                px = made.image[new].astype(np.float32)
                inside_shares.append(float(((px >= stats.low - 0.5) & (px <= stats.high + 0.5)).mean()))
            for a in ax:
                a.axis("off")
        fig.tight_layout()
        path = args.out / f"grid_{tag}_{blend}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        report[blend] = {"grid": str(path.relative_to(REPO)), "num_placed": len(inside_shares),
                         "lesion_pixels_within_recipient_brain_range": inside_shares}
        print(f"{blend}: {path}", file=sys.stderr)
    from augkit.evaluate.provenance import provenance
    report["provenance"] = provenance()  # the code, packages and machine of this result
    (args.out / f"grid_{tag}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
