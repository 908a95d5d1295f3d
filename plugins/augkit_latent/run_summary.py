"""The Markdown summary of the class / unconditional GAN runs on LGG slices
(``benchmarks/classgan_train.py``): each run's pixel diversity and nearest-real distances
(``augkit.evaluate.pixel_diversity``) side by side, and what set each run apart."""

from __future__ import annotations


def runs_markdown(results: dict) -> str:
    """``classgan.json`` (one record per run, under its key, and ``machine``) as a table of the
    pixel measures per run and one note per run saying what it trained on and how."""
    lines = ["# Class / unconditional GANs on LGG slices (cpu profiles)", "",
             "Written by `benchmarks/classgan_train.py`; numbers from `classgan.json`. Diversity is "
             "over 64 generated vs 64 real slices (pairwise RMS pixel difference in [0, 1] units, "
             "and 1 - normalised cross-correlation); nearest-real is each generated slice's "
             "1 - NCC to its closest training slice (0 = a copy). Labels: runs labelled `grade` use the "
             "authors' histological grade from `patients_*.csv` (WHO II / III); runs made before "
             "those tables had rows (labels `tumour_size`, 249 slices of all three splits) used "
             "tumour size (FLAIR-abnormality area above / below the median slice's: `large` / "
             "`small`). The notes say which slices each run trained on.", "",
             "| plugin | labels | epochs | train s | pairwise L2 gen / real | pairwise 1-NCC gen / real "
             "| near-duplicate pairs | nearest-real 1-NCC median (min) | real-to-real median |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(k for k in results if k != "machine"):
        r, plugin = results[key], key
        m = r["measures"]
        g, rl, nn = m["generated"], m["real"], m["nearest_real_1_minus_ncc"]
        lines.append(
            f"| {plugin} | {r['label_source']} | {r['epochs']} | {r['train_seconds']} | "
            f"{g['mean_pairwise_l2']:.3f} / {rl['mean_pairwise_l2']:.3f} | "
            f"{g['mean_pairwise_1_minus_ncc']:.3f} / {rl['mean_pairwise_1_minus_ncc']:.3f} | "
            f"{g['near_duplicate_pair_share']:.3f} | {nn['generated_median']:.3f} "
            f"({nn['generated_min']:.3f}) | {nn['real_to_other_real_median']:.3f} |")
    lines += ["", "Notes:"]
    for key in sorted(k for k in results if k != "machine"):
        r = results[key]
        splits = " + ".join(r.get("splits", ["train30", "val", "test"]))
        note = (f"- `{key}`: {r.get('channels', 'rgb')} images, {r['num_train_slices']} slices ({splits}), "
                f"labels: {r['label_source']}")
        if r.get("class_counts"):
            note += f" {r['class_counts']}"
        if r.get("expand"):
            note += f"; `{r['expand']['command']}` wrote per class and source {r['expand']['counts']}"
        if r.get("label_effect"):
            e = r["label_effect"]
            note += (f"; the same {e['num_noise_vectors']} noise vectors under {' vs '.join(e['classes'])} change a "
                     f"pixel by {e['mean_abs_pixel_change_same_noise_other_class']:.4f} on average, other noise "
                     f"vectors by {e['mean_abs_pixel_change_other_noise_same_class']:.4f} ([0, 1] units)")
        overrides = {k: v for k, v in r["config"].items() if k not in ("profile", "seed", "backbone_weights")}
        if overrides:
            note += f"; settings changed from the cpu profile: {overrides}"
        if r.get("backbone"):
            note += f"; backbone weights: {r['backbone']['weights']}"
            if r["backbone"].get("pretraining"):
                pre = r["backbone"]["pretraining"]
                note += (f" ({pre['task']}, {pre['images']} images, {pre['epochs']} epochs, "
                         f"accuracy {pre['final_accuracy']}, {pre['seconds']} s)")
        lines.append(note + ".")
    grids = dict.fromkeys(f for k in sorted(results) if k != "machine" for f in results[k]["files"])
    lines += ["", "Grids: " + ", ".join(f"`{f}`" for f in grids), "",
              "What the grids show, run by run: `findings.md` (written by hand after looking).", ""]
    return "\n".join(lines)
