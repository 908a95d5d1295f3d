"""draw_samples: the sample grid, the real grid and one grid per class, from any latent generator."""

from types import SimpleNamespace

import numpy as np
import pytest

from augkit.sample import Provenance, Sample
from augkit_latent.grids import NUM_SHOWN, draw_samples


class FakeGenerator:
    """Makes images whose brightness is the class index, so a class grid can be checked."""

    def __init__(self, classes):
        self.spec = SimpleNamespace(classes=classes)
        self.profile = SimpleNamespace(size=8)
        self.epochs_trained = 1
        self.asked = []

    def generate(self, num, *, seed, conditions=None, batch_size):
        self.asked.append(list(conditions) if conditions is not None else None)
        for i in range(num):
            level = 0 if conditions is None else 100 * (1 + self.spec.classes.index(conditions[i]))
            yield Sample(image=np.full((8, 8, 1), level, np.uint8), provenance=Provenance(id=f"g{i}"))


@pytest.fixture
def drawn(monkeypatch):
    """The grids drawn, by file name: rows of images (drawing itself is the training module's)."""
    grids = {}
    monkeypatch.setattr("augkit.generators.training.save_image_grid",
                        lambda path, rows, **kw: grids.__setitem__(path.name, rows))
    return grids


def _reals(num=70):
    return [Sample(image=np.full((8, 8, 1), i, np.uint8), label="ab"[i % 2], provenance=Provenance(id=str(i)))
            for i in range(num)]


def test_a_conditional_model_gets_alternating_rows_and_one_grid_per_class(tmp_path, drawn):
    gen = FakeGenerator(["a", "b"])
    got = draw_samples(gen, _reals(), tmp_path, "dc", plugin="dcgan", seed=0)
    assert gen.asked[0][:16] == ["a"] * 8 + ["b"] * 8
    assert got["class_files"] == ["dc_a_samples.png", "dc_b_samples.png"]
    assert sorted(drawn) == ["dc_a_samples.png", "dc_b_samples.png", "dc_samples.png", "real_8px.png"]
    assert [len(r) for r in drawn["dc_samples.png"]] == [8] * 8
    # class b: three rows of generated b images over a row of 8 real b slices
    assert [int(r[0][0, 0, 0]) for r in drawn["dc_b_samples.png"][:3]] == [200] * 3
    assert [int(i[0, 0, 0]) % 2 for i in drawn["dc_b_samples.png"][3]] == [1] * 8
    assert got["fakes"].shape[0] == got["shown"].shape[0] == NUM_SHOWN
    labels = [int(v) % 2 for v in got["shown"][:, 0, 0, 0]]  # shown reals sorted by label
    assert labels == sorted(labels)
    assert got["by_class"]["b"].max() == 200 / 255


def test_an_unconditional_model_gets_no_class_grids(tmp_path, drawn):
    got = draw_samples(FakeGenerator([]), _reals(), tmp_path, "tl", plugin="tlgan", seed=0)
    assert got["class_files"] == [] and got["by_class"] == {}
    assert sorted(drawn) == ["real_8px.png", "tl_samples.png"]
