"""Class labels for slices from a patient table or the mask, resized class slices, and the class-folder round trip."""

import numpy as np

from augkit.io.slice_classes import class_slices, mask_size_labels, table_labels, through_classfolders
from augkit.sample import Provenance, Sample


def _slice(name, area, channels=3, side=8):
    mask = np.zeros((side, side), np.uint8)
    mask.flat[:area] = 1
    image = np.stack([np.full((side, side), 10 * (c + 1), np.uint8) for c in range(channels)], -1)
    return Sample(image=image, mask=mask, provenance=Provenance(id=name))


def test_table_labels_map_codes_and_leave_out_empty_cells(tmp_path):
    (tmp_path / "a.csv").write_text("Patient,grade\nP1,1\nP2,\nP3,7\n")
    (tmp_path / "b.csv").write_text("Patient,grade\n P4 ,2\n")
    got = table_labels([tmp_path / "a.csv", tmp_path / "b.csv"], key="Patient", column="grade",
                       names={"1": "low", "2": "high"}, other="g{}")
    assert got == {"P1": "low", "P3": "g7", "P4": "high"}


def test_mask_size_labels_split_at_the_median_area():
    samples = [_slice(str(i), area) for i, area in enumerate([1, 5, 3, 9, 3])]
    assert mask_size_labels(samples) == ["small", "large", "small", "large", "small"]


def test_class_slices_resize_pick_the_channel_and_label_unlabelled_as_slice():
    got = class_slices([_slice("case/1", 2, side=16), _slice("case/2", 2, side=16)], ["x", None], 8, channel=1)
    assert [s.image.shape for s in got] == [(8, 8, 1)] * 2
    assert got[0].image.dtype == np.uint8 and int(got[0].image.max()) == 20
    assert [s.label for s in got] == ["x", "slice"]
    assert got[0].id == "case__1"
    assert class_slices([_slice("c", 2)], ["x"], 4)[0].image.shape == (4, 4, 3)


def test_through_classfolders_reads_back_every_slice_under_its_class(tmp_path):
    samples = class_slices([_slice(f"c/{i}", 2) for i in range(4)], ["a", "b", "a", "b"], 8, channel=0)
    back = through_classfolders(samples, tmp_path / "folders")
    assert sorted(str(s.label) for s in back) == ["a", "a", "b", "b"]
    assert sorted(p.name for p in (tmp_path / "folders").iterdir()) == ["a", "b"]
