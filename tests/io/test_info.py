"""describe / format_description, and that the built-in formats are registered as plugins."""

from __future__ import annotations

import json

import numpy as np

from augkit.io import read_dataset
from augkit.io.info import describe, format_description
from augkit.registry.host import registry


def test_builtin_formats_are_registered_through_the_entry_point():
    reg = registry()
    assert {"paired2d", "brats", "nifti"} <= set(reg.formats)
    assert reg.origin[("formats", "brats")] == "formats"  # the entry point's name in pyproject


def test_describe_counts_samples_per_label_value(tmp_dataset):
    image = np.zeros((16, 16, 3), np.uint8)
    one = np.zeros((16, 16), np.uint8)
    one[2:4, 2:4] = 1
    two = one * 2
    root = tmp_dataset({"a.png": image, "a_mask.png": one, "b.png": image, "b_mask.png": two,
                        "c.png": image[:8], "c_mask.png": np.zeros((8, 16), np.uint8)})
    d = describe(read_dataset(root))
    assert d["format"] == "paired2d" and d["num_samples"] == 3
    assert d["image_shapes"] == {"16×16×3": 2, "8×16×3": 1}
    assert d["dtypes"] == {"uint8": 3} and d["channels"] == [3]
    assert d["label_values"] == {"0": 3, "1": 1, "2": 1}
    assert d["num_with_mask"] == 3
    assert json.loads(json.dumps(d)) == d
    text = format_description(d)
    assert "samples:   3" in text and "1 (in 1 samples)" in text and "16×16×3 (2)" in text


def test_describe_lgg(shared_data):
    d = describe(read_dataset(shared_data / "lgg" / "train30"))
    assert d["num_samples"] == 30 and d["image_shapes"] == {"256×256×3": 30}
    assert d["label_values"] == {"0": 30, "255": 30}
