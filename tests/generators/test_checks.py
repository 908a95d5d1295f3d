"""The one set of training-data checks every generator plugin uses."""

import numpy as np
import pytest

from augkit.errors import DataError, UsageError
from augkit.generators.checks import check_training_data, source_file
from augkit.sample import Provenance, Sample


def sample(i, *, mask=True, lesion=True, label=None, channels=1, features=None):
    image = np.zeros((8, 8, channels), np.uint8)
    m = np.zeros((8, 8), np.uint8)
    m[2:4, 2:4] = 1 if lesion else 0
    return Sample(image=image, mask=m if mask else None, label=label, features=features,
                  provenance=Provenance(id=f"s{i}"), meta={"source_files": [f"/data/s{i}.png"]})


def test_fit_data_comes_back_as_a_list():
    samples = (sample(i) for i in range(3))
    assert [s.id for s in check_training_data(samples, "g", masks="m", need_lesion=True)] == ["s0", "s1", "s2"]


@pytest.mark.parametrize("samples, kwargs, error, text", [
    ([], {}, UsageError, "g needs training samples; received none"),
    ([sample(0)], {"minimum": 2}, DataError, "needs at least 2 training samples, got 1"),
    ([sample(0), "x"], {}, UsageError, "must be augkit.Sample objects. Received: str"),
    ([sample(0), sample(1, mask=False)], {"masks": "paints masks"}, DataError, "/data/s1.png: training sample 's1' has no mask; g paints masks"),
    ([sample(0), sample(1, channels=3)], {}, DataError, "/data/s1.png: training sample 's1' is 3-channel"),
    ([sample(0, lesion=False), sample(1, lesion=False)], {"masks": "m", "need_lesion": True}, DataError, "found no lesion"),
    ([sample(0, label="a"), sample(1)], {"labels_all_or_none": True}, DataError, "'s1' has no label while others have one"),
    ([sample(0), sample(1, label="a")], {"labels_all_or_none": True}, DataError, "'s1' has a label while others have none"),
    ([sample(0)], {"features": "learns rows"}, DataError, "has no table row; g learns rows"),
])
def test_unfit_data_is_refused_in_one_line_naming_the_file(samples, kwargs, error, text):
    with pytest.raises(error) as info:
        check_training_data(samples, "g", **kwargs)
    assert text in str(info.value) and "\n" not in str(info.value)


def test_the_checks_asked_for_only():
    mixed = [sample(0, mask=False, label="a"), sample(1, mask=False, channels=3)]
    assert len(check_training_data(mixed, "g", one_kind=False)) == 2  # no masks, kinds or labels asked


def test_source_file_is_the_first_source_or_none():
    assert source_file(sample(0)) == "/data/s0.png"
    assert source_file(Sample(image=np.zeros((2, 2, 1)), provenance=Provenance(id="x"))) is None
