"""Small constructed image sets for the image-evaluation tests: 48×48 uint8 images of smooth
random texture with one bright blob (the "lesion", whose disc is the mask), and readers for
the real LGG slices (tifffile directly, independent of augkit.io)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from augkit.sample import Provenance, Sample

SIDE = 48


def blob_image(rng: np.random.Generator, side: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    field = ndimage.gaussian_filter(rng.normal(size=(side, side)), 2.5)
    field = (field - field.mean()) / field.std()
    yy, xx = np.mgrid[:side, :side]
    cy, cx = rng.uniform(0.3 * side, 0.7 * side, 2)
    radius = rng.uniform(0.08 * side, 0.18 * side)
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    image = np.clip(100 + 25 * field + 80 * disc, 0, 255).astype(np.uint8)
    return image[..., None], disc.astype(np.uint8)


def _make_set(num: int, seed: int, tag: str = "real", source: str = "real") -> list[Sample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(num):
        image, mask = blob_image(rng)
        out.append(Sample(image=image, mask=mask, provenance=Provenance(id=f"{tag}{i:02d}", source=source)))
    return out


def _derived(samples: list[Sample], fn, tag: str) -> list[Sample]:
    """A synthetic set made by ``fn(image, mask) -> (image, mask)`` from each sample."""
    out = []
    for s in samples:
        image, mask = fn(s.image, s.mask)
        out.append(Sample(image=image, mask=mask,
                          provenance=Provenance(id=f"{tag}-{s.id}", source="gan", parent_id=s.id)))
    return out


def _load_lgg(split_dir: Path) -> list[Sample]:
    import tifffile

    out = []
    for path in sorted(split_dir.glob("*/*.tif")):
        if path.stem.endswith("_mask"):
            continue
        mask = tifffile.imread(path.with_name(path.stem + "_mask.tif"))
        out.append(Sample(image=tifffile.imread(path), mask=(mask > 0).astype(np.uint8),
                          provenance=Provenance(id=path.stem)))
    return out


@pytest.fixture(scope="session")
def real_set() -> list[Sample]:
    """30 constructed 48×48 images with masks (seed 0)."""
    return _make_set(30, seed=0)


@pytest.fixture(scope="session")
def make_set():
    """``make_set(num, seed, tag="real", source="real")`` -> constructed Samples."""
    return _make_set


@pytest.fixture(scope="session")
def derive():
    """``derive(samples, fn(image, mask) -> (image, mask), tag)`` -> a synthetic set."""
    return _derived


@pytest.fixture(scope="session")
def lgg(shared_data):
    """``lgg("train30" | "val" | "test")`` -> the real LGG slices with binary masks."""
    return lambda split: _load_lgg(shared_data / "lgg" / split)
