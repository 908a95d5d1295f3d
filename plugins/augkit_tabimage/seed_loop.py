"""Seed 004's way of generating, kept as the baseline ``generate_shards`` is measured against
(``augkit.generate.timing``), and the Markdown report of that comparison."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np


def seed_loop(gen, num_samples: int, out: Path) -> float:
    """Seed 004's generation loop: one noise vector per (eager) model call, one image file per
    sample, the raw table rows kept in a list and pickled at the end. Returns seconds.

    To compare like with like, the image is resized to the same output size and written as the
    same PNG (zlib level 1) as ``generate_shards`` writes (the seed wrote JPEGs); the rows are not decoded
    (as in the seed), which ``generate_shards`` does on top, so the speed-up is a lower bound."""
    import tensorflow as tf
    from PIL import Image

    model, spec = gen._gan.generator, gen.image_spec
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for i in range(num_samples):
        noise = tf.constant(rng.standard_normal((1, gen.profile.latent_dim)), tf.float32)
        image, row = model(noise, training=False)
        if spec.shape is not None:
            image = tf.image.resize(image, spec.shape, method="bilinear")
        pixels = spec.from_unit(image[0].numpy())[..., 0]
        Image.fromarray(pixels).save(out / f"{i}.png", compress_level=1)  # as generate_shards
        rows.append(row.numpy())
    with open(out / "dataset_pred.pickle", "wb") as fh:
        pickle.dump(rows, fh)
    return time.perf_counter() - started


def throughput_markdown(r: dict, script: str) -> str:
    """The throughput record (rounds of ``augkit.generate.timing.timed_rounds`` with this loop
    as the baseline, peak memory) as Markdown; ``script`` is the benchmark that wrote it."""
    rounds = "\n".join(f"| {x['round'] + 1} | {x['seed_way_samples_per_second']} | "
                       f"{x['generate_shards_samples_per_second']} | {x['speedup']}× | "
                       f"{', '.join(f'{v:.1f}' for v in x['load_average'])} |" for x in r["rounds"])
    mem = "\n".join(f"| {m['samples']:,} | {m['rss_before_mib']:.0f} | {m['peak_rss_mib']:.0f} | "
                    f"{m['samples_per_second']:.0f} |" for m in r["peak_memory"].values())
    memory = f"""
Peak resident memory of a fresh process that loads the model and runs `generate_shards`
(RSS before generating, peak RSS; shards of 10,000; `{Path(script).name} memory SIZES`, load average
{', '.join(f'{v:.1f}' for v in r.get('peak_memory_load_average', []))}). Flat means the peak does not grow
with the number of samples:

| samples | RSS before (MiB) | peak RSS (MiB) | samples/s |
|---:|---:|---:|---:|
{mem}
""" if r["peak_memory"] else "\nPeak memory was not measured in this run.\n"
    return f"""# tabimage bulk generation

Model: `{r['profile']}` profile ({r['image_size']}×{r['image_size']} network, images written at
{r['output_shape'][0]}×{r['output_shape'][1]}, FLAIR) + a {r['table_columns']}-column patient row, trained on
the LGG slices joined to the authors' patient table (`python {script} report`);
measured with `python {script} throughput{r.get('command_args', '')}`.
Machine: {r['machine']}, {r['cpu_count']} CPUs, shared with other jobs (the load averages below).

Rounds alternate the two ways (seed 004's loop on {r['seed_way_samples']:,} samples: one model call + one
PNG write per sample, raw rows pickled; then `generate_shards` on {r['generate_shards_samples']:,} samples:
batch {r['batch_size']}, PNG + one table.csv per shard), so both meet the same load:

| round | seed loop, samples/s | `generate_shards`, samples/s | speed-up | load average (1, 5, 15 min) after the round |
|---:|---:|---:|---:|---|
{rounds}

Speed-up, median of {len(r['rounds'])} rounds: **{r['speedup_median']}×** (range {r['speedup_range'][0]}–{r['speedup_range'][1]}×).
The seed loop does not decode its rows, `generate_shards` does, so the ratio is a lower bound.
{memory}"""
