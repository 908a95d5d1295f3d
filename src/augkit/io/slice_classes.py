"""Class-labelled slices for a class-conditional GAN when the dataset's folders hold no classes:
the class comes from a per-patient table (e.g. the tumour grade in the patients' rows) or from
the mask (tumour size above or below the median slice's); the slices are resized to the
generator's size and go through a class-folder dataset, so that training sees what a user's
``DIR/<class>/*.png`` would give it."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from augkit.sample import Provenance, Sample


def table_labels(paths: Sequence[Path], *, key: str, column: str, names: Mapping[str, str],
                 other: str = "{}") -> dict[str, str]:
    """``key`` value → class name from CSV tables: the ``column`` value through ``names``, a
    value not there through the ``other`` template; rows without a value are left out."""
    found = {}
    for path in paths:
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                value = (row.get(column) or "").strip()
                if value:
                    found[row[key].strip()] = names.get(value, other.format(value))
    return found


def mask_size_labels(samples: Sequence[Sample]) -> list[str]:
    """``large`` / ``small``: the mask's foreground area above / not above the median slice's."""
    areas = np.array([float((s.mask > 0).mean()) for s in samples])
    cut = float(np.median(areas))
    return ["large" if a > cut else "small" for a in areas]


def class_slices(samples: Sequence[Sample], labels: Sequence[str | None], size: int,
                 channel: int | None = None) -> list[Sample]:
    """New uint8 Samples of the images (one ``channel`` of them, or all) resized to size×size,
    labelled (``slice`` where a label is None), with ids that name no folder."""
    from skimage.transform import resize

    out = []
    for s, label in zip(samples, labels):
        image = s.image[..., channel:channel + 1] if channel is not None else s.image
        small = resize(image, (size, size, image.shape[-1]), order=1, anti_aliasing=True, preserve_range=True)
        image = np.clip(np.rint(small), 0, 255).astype(np.uint8)
        out.append(Sample(image=image, label=label if label is not None else "slice",
                          provenance=Provenance(id=s.id.replace("/", "__"))))
    return out


def through_classfolders(samples: Sequence[Sample], folder: Path) -> list[Sample]:
    """Write the Samples as a class-folder dataset and read them back with its reader."""
    from augkit.io import detect_format, read_dataset
    from augkit.io.classfolders import ClassFoldersFormat

    writer = ClassFoldersFormat()
    for s in samples:  # new samples (no source file): written as <label>/<id>.png
        writer.write(s, folder)
    assert detect_format(folder).name == "classfolders"
    back = read_dataset(folder)
    assert len(back) == len(samples), (len(back), len(samples))
    return list(back)
