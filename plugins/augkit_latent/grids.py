"""What a latent GAN makes, beside real data: an 8×8 grid of generated images (rows alternate
classes for a conditional model, as in the training grids) next to as many real ones, and for a
conditional model one grid per class, generated images of that class above real ones of it.
Looking is the first check of a GAN; the same images feed ``augkit.evaluate.pixel_diversity``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

NUM_SHOWN = 64


def _rows(images, num_rows: int) -> list[list]:
    return [list(images[r * 8:(r + 1) * 8]) for r in range(num_rows)]


def draw_samples(gen, samples, out_dir: Path, tag: str, *, plugin: str, seed: int) -> dict:
    """``{tag}_samples.png`` (64 generated, seed ``seed + 1``), ``real_{size}px.png`` (64 real,
    sorted by label for a conditional model) and per class ``{tag}_{class}_samples.png`` (24
    generated from the same noise, seed ``seed + 2``, above 8 real). Returns the generated and
    shown real images (uint8), the real ones, the seconds the 64 took, the files written and
    per class the 24 images in [0, 1]."""
    from augkit.generators.training import save_image_grid

    reals = np.stack([s.image for s in samples])
    classes = list(gen.spec.classes)
    conditions = None
    if classes:  # rows of 8 alternate classes, as in the training grids
        conditions = [classes[(i // 8) % len(classes)] for i in range(NUM_SHOWN)]
    started = time.perf_counter()
    fakes = list(gen.generate(NUM_SHOWN, seed=seed + 1, conditions=conditions, batch_size=32))
    generate_seconds = time.perf_counter() - started
    fake_images = np.stack([f.image for f in fakes])
    pick = np.random.default_rng(seed).permutation(len(reals))[:NUM_SHOWN]
    pick = sorted(pick, key=lambda i: (str(samples[i].label), i))
    shown = reals[pick]

    out_dir.mkdir(parents=True, exist_ok=True)
    size = gen.profile.size
    title = f"{plugin} cpu profile, {gen.epochs_trained} epochs, {len(samples)} LGG slices"
    if classes:
        title += f"; rows alternate {' / '.join(map(str, classes))}"
    save_image_grid(out_dir / f"{tag}_samples.png", _rows(fake_images, 8), title=title, cell_inches=1.0)
    real_title = "real LGG slices (random 64)"
    if classes:
        real_title += ", sorted by label"
    save_image_grid(out_dir / f"real_{size}px.png", _rows(shown, 8), title=real_title, cell_inches=1.0)
    class_files, by_class = [], {}
    for label in classes:  # one grid per class: 24 generated of that class, 8 real ones below
        made = list(gen.generate(24, seed=seed + 2, conditions=[label] * 24, batch_size=24))
        by_class[label] = np.stack([m.image for m in made]).astype(np.float64) / 255.0
        real_of = [s.image for s in samples if s.label == label]
        real_pick = [real_of[i] for i in np.linspace(0, len(real_of) - 1, min(8, len(real_of))).astype(int)]
        name = f"{tag}_{label}_samples.png"
        save_image_grid(out_dir / name, _rows([m.image for m in made], 3) + [real_pick],
                        title=f"{plugin} conditioned on {label}: generated (rows 1-3), real {label} slices "
                              f"(row 4; {len(real_of)} in training)", cell_inches=1.0)
        class_files.append(name)
    return {"fakes": fake_images, "shown": shown, "reals": reals, "generate_seconds": generate_seconds,
            "class_files": class_files, "by_class": by_class}
