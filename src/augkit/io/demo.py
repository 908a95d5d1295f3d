"""The built-in demo dataset: MRI-like axial slices with a tumour mask, made here from a seed.

It mirrors the LGG layout users have (one folder per case, ``x.tif`` + ``x_mask.tif``, three
channels T1 / FLAIR / T1 post-contrast, mask values {0, 255}) so every command can be tried
on a fresh machine without downloading data.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
from scipy import ndimage

from augkit.outputs import (MARKER, OutputLock, absolute, check_output, check_writable_parent,
                            foreign_by_marker, is_permission_error, marker_bytes, permission_error,
                            replace_output)
from augkit.seeding import rng_for


def _smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field / (np.abs(field).max() + 1e-8)


def make_slice(seed: int, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic slice (size×size×3 uint8) and its tumour mask (size×size uint8, {0,255})."""
    rng = rng_for(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    # Head: an ellipse with a random aspect and tilt; brain inside a thin skull ring.
    angle = rng.uniform(-0.3, 0.3)
    ry, rx = rng.uniform(0.36, 0.44), rng.uniform(0.30, 0.37)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    r = np.sqrt((u / rx) ** 2 + (v / ry) ** 2) + 0.05 * _smooth_noise(rng, (size, size), size / 10)
    head = r < 1.0
    brain = r < 0.9
    skull = head & ~brain
    # Tissue texture: grey/white matter as smooth noise, two dark ventricles near the centre.
    tissue = 0.55 + 0.15 * _smooth_noise(rng, (size, size), size / 25) \
        + 0.05 * _smooth_noise(rng, (size, size), 1.5)
    vent = np.zeros((size, size), bool)
    for side in (-1, 1):
        cy, cx = rng.uniform(-0.06, 0.02), side * rng.uniform(0.04, 0.07)
        vent |= ((xx - cx) / 0.035) ** 2 + ((yy - cy) / 0.10) ** 2 < 1.0
    # Tumour: a lumpy blob somewhere in one hemisphere.
    cy, cx = rng.uniform(-0.2, 0.2), rng.choice([-1, 1]) * rng.uniform(0.08, 0.2)
    radius = rng.uniform(0.05, 0.11)
    blob = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / radius + 0.35 * _smooth_noise(rng, (size, size), 3)
    tumour = (blob < 1.0) & brain & ~vent
    oedema = ndimage.gaussian_filter(tumour.astype(np.float32), size / 40)

    channels = []
    for gain, contrast in ((0.9, -0.25), (0.8, 0.45), (1.0, 0.15)):  # T1, FLAIR, T1 post
        img = np.where(brain, tissue * gain, 0.0)
        img = np.where(vent & brain, 0.15 if contrast > 0 else 0.25, img)
        img = img + contrast * np.maximum(tumour.astype(np.float32), 0.6 * oedema) * brain
        img = np.where(skull, 0.35, img)
        img = img + 0.02 * rng.standard_normal((size, size)) * head
        channels.append(np.clip(img, 0, 1))
    image = (np.stack(channels, -1) * 255).round().astype(np.uint8)
    mask = (tumour * 255).astype(np.uint8)
    return image, mask


def write_demo(out_dir: str | Path, num_cases: int = 30, size: int = 128, seed: int = 0,
               overwrite: bool = False) -> Path:
    """Write ``num_cases`` demo slices in the LGG layout under ``out_dir``."""
    import tifffile

    from augkit.io.base import atomic_write_bytes

    out_dir = absolute(out_dir)
    check_output(out_dir, overwrite, foreign=_foreign_in_demo, option="OUT")
    check_writable_parent(out_dir, "OUT", create=True)
    with OutputLock(out_dir, command="demo", option="OUT"):
        check_output(out_dir, overwrite, foreign=_foreign_in_demo, option="OUT")
        stage = out_dir.parent / f".{out_dir.name}.augkit-demo"  # not expand's resumable staging name
        shutil.rmtree(stage, ignore_errors=True)  # a killed demo's; we hold the lock
        try:
            names = []
            for case in range(num_cases):
                image, mask = make_slice(seed * 100_003 + case, size)
                name = f"DEMO_{case:03d}"
                (stage / name).mkdir(parents=True)
                tifffile.imwrite(stage / name / f"{name}_1.tif", image)
                tifffile.imwrite(stage / name / f"{name}_1_mask.tif", mask)
                names.append(name)
            atomic_write_bytes(stage / MARKER, marker_bytes("augkit demo", names, num_cases=num_cases,
                                                            size=size, seed=seed))
            replace_output(stage, out_dir)
        except BaseException as exc:
            shutil.rmtree(stage, ignore_errors=True)
            if is_permission_error(exc):
                raise permission_error(exc, "OUT") from None
            raise
    return out_dir


def _foreign_in_demo(folder: Path) -> list[str] | None:
    """Entries a demo did not write; a demo from before markers is its DEMO_### folders."""
    found = foreign_by_marker(folder)
    if found is not None:
        return found
    names = sorted(p.name for p in folder.iterdir())
    demo = [n for n in names if re.fullmatch(r"DEMO_\d{3,}", n) and (folder / n).is_dir()]
    return [n for n in names if n not in demo] if demo else None
