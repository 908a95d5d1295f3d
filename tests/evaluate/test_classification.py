"""Classification evaluation: split checks refuse bad class folders in one line, the figures
(AUC, intervals, paired bootstrap, class fidelity), batch mixing, the class-gain conditions,
and a tiny classifier that learns two toy classes with a best-val checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from augkit.errors import DataError
from augkit.evaluate import class_gain as cg
from augkit.evaluate.classification import (auc, bootstrap_difference, check_class_splits,
                                            class_arrays, class_fidelity, t_interval)
from augkit.evaluate.classifier import ClassifierSettings, mix_batch, train_classifier
from augkit.io import read_dataset
from augkit.sample import Provenance, Sample


def toy(num_per_class=6, side=8, seed=0, classes=("a", "b"), source="real"):
    """Class ``a``: bright left half; ``b``: bright right half; noise on both."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(num_per_class * len(classes)):
        label = classes[i % len(classes)]
        image = rng.integers(0, 80, (side, side, 1)).astype(np.uint8)
        cols = slice(0, side // 2) if classes.index(label) == 0 else slice(side // 2, side)
        image[:, cols] += 150
        out.append(Sample(image, Provenance(f"{source}{seed}-{i}", source=source), label=label))
    return out


def one_line(error) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def test_a_class_missing_in_val_is_refused_in_one_line_naming_the_folder(tmp_path):
    splits = {"train": (toy(), tmp_path / "train"), "val": (toy(classes=("a",)), tmp_path / "val")}
    with pytest.raises(DataError) as info:
        check_class_splits(splits)
    text = one_line(info)
    assert str(tmp_path / "val") in text and "no image of class 'b'" in text and "Fix:" in text


def test_a_class_in_val_that_train_lacks_and_a_one_class_train_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"has class 'c', which the train split lacks"):
        check_class_splits({"train": (toy(), "tr"), "val": (toy(classes=("a", "b", "c")), "va")})
    with pytest.raises(DataError, match=r"tr: the train split holds one class \('a'\)"):
        check_class_splits({"train": (toy(classes=("a",)), "tr"), "val": (toy(), "va")})
    unlabelled = [Sample(s.image, s.provenance) for s in toy()]
    with pytest.raises(DataError, match="have no class"):
        check_class_splits({"train": (unlabelled, "tr")})
    assert check_class_splits({"train": (toy(), "tr"), "val": (toy(seed=1), "va")}) == ("a", "b")


def test_an_empty_class_folder_is_refused_in_one_line_naming_it(tmp_dataset):
    root = tmp_dataset({"normal/x.png": np.zeros((8, 8), np.uint8),
                        "pneumonia/readme.txt": b"no images here"})
    with pytest.raises(DataError) as info:
        read_dataset(root)
    text = one_line(info)
    assert str(root / "pneumonia") in text and "holds no PNG, TIFF or JPEG images" in text


def test_class_arrays_scale_and_index_by_the_given_classes():
    x, y = class_arrays(toy(2), ("b", "a"), size=(4, 4))
    assert x.shape == (4, 4, 4, 1) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.tolist() == [1, 0, 1, 0]


def test_auc_intervals_and_the_paired_bootstrap():
    labels = np.array([0, 0, 0, 1, 1, 1])
    perfect = np.eye(2)[labels].astype(np.float32)
    backwards = perfect[:, ::-1]
    assert auc(labels, perfect) == 1.0 and auc(labels, backwards) == 0.0
    lo, hi = t_interval([1.0, 2.0, 3.0])
    assert lo < 2.0 < hi and hi - 2.0 == pytest.approx(2.0 - lo)
    assert t_interval([1.0]) is None
    ci = bootstrap_difference(labels, [perfect, perfect], [backwards, backwards], num_resamples=50)
    assert ci == [1.0, 1.0]
    same = bootstrap_difference(labels, [perfect], [perfect], num_resamples=50)
    assert same == [0.0, 0.0]


def test_class_fidelity_counts_per_class():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])
    out = class_fidelity(probs, np.array([0, 0, 1, 1]), ("normal", "pneumonia"))
    assert out == {"accuracy": 0.75, "per_class": {"normal": 0.5, "pneumonia": 1.0}}


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_batch_mixing_keeps_label_mass_and_mixes_both_classes(kind):
    x = np.concatenate([np.zeros((8, 6, 6, 1)), np.ones((8, 6, 6, 1))]).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[[0] * 8 + [1] * 8]
    mx, my = mix_batch(x, y, np.random.default_rng(0), kind, alpha=1.0)
    assert np.allclose(my.sum(axis=1), 1.0)
    # the label follows the pixels: the share of ones in an image equals its class-1 weight
    assert np.allclose(mx.mean(axis=(1, 2, 3)), my[:, 1], atol=1e-6)
    assert np.sum((my[:, 1] > 0.01) & (my[:, 1] < 0.99)) >= 2  # blends, not a copy of the batch


def test_condition_sets_hold_the_asked_mix():
    real = toy(5)
    classical = toy(50, source="classical")
    generated = toy(50, source="gan", seed=3)
    def kinds(name):
        return cg._sources(cg.condition_set(cg.Condition.parse(name), real, total=40,
                                            classical=classical, generated=generated))
    assert kinds("none") == {"real": 10}
    assert kinds("classical") == kinds("classical+mixup") == {"real": 10, "classical": 30}
    assert kinds("classical+gen@0.5") == {"real": 10, "classical": 15, "gan": 15}
    assert kinds("classical+gen@1") == {"real": 10, "gan": 30}
    assert kinds("gen") == {"gan": 40}
    assert cg.Condition.parse("classical+cutmix").mix == "cutmix"
    for bad in ("classical+gen@0", "mixup", "gan"):
        with pytest.raises(ValueError):
            cg.Condition.parse(bad)
    runs = [{"condition": "x", "val_auc": 0.8}, {"condition": "y", "val_auc": 0.9},
            {"condition": "y", "val_auc": 0.85}, {"condition": "z", "val_auc": 0.875}]
    assert cg.choose_on_val(runs, ["x", "y", "z"]) == "y"
    assert cg.choose_on_val(runs, ["z", "y"]) == "z"  # ties go to the first listed


def test_a_tiny_classifier_learns_toy_classes_and_keeps_its_best_val_step():
    train, val = toy(16, seed=0), toy(8, seed=1)
    x, y = class_arrays(train, ("a", "b"))
    vx, vy = class_arrays(val, ("a", "b"))
    settings = ClassifierSettings(steps=40, batch_size=8, eval_every=10, widths=(4,))
    trained = train_classifier(x, y, vx, vy, num_classes=2, settings=settings, seed=0)
    assert trained.history["step"] == [10, 20, 30, 40]
    assert trained.best_val_auc == max(trained.history["val_auc"])
    assert trained.best_step == trained.history["step"][int(np.argmax(trained.history["val_auc"]))]
    assert auc(vy, trained.predict(vx)) == pytest.approx(trained.best_val_auc)  # best weights back
    assert trained.best_val_auc > 0.9
    assert trained.embed(vx).shape == (len(vx), 4)


class PaintsBy:
    """A stand-in generator whose images depend on the class only, or on the latent draw only."""

    def __init__(self, follows_class: bool):
        self.follows_class = follows_class

    def generate(self, num, *, seed, conditions=None, batch_size=16):
        for i in range(num):
            label = conditions[i % len(conditions)]
            rng = np.random.default_rng([seed, i])  # the "latent vector" of (seed, index)
            value = ("a", "b").index(label) * 200 if self.follows_class else int(rng.integers(0, 250))
            yield Sample(np.full((4, 4, 1), value, np.uint8), Provenance(f"g{i}", source="gan"),
                         label=label)


def test_flip_vs_noise_tells_a_generator_that_follows_its_class_from_one_that_ignores_it():
    from augkit.evaluate.classification import flip_vs_noise

    follows = flip_vs_noise(PaintsBy(True), ("a", "b"), num=8)
    assert follows["new_noise_change"] == 0 and follows["class_flip_change"] == pytest.approx(200 / 255)
    ignores = flip_vs_noise(PaintsBy(False), ("a", "b"), num=8)
    assert ignores["class_flip_change"] == 0 and ignores["new_noise_change"] > 0.1
    assert ignores["ratio"] == 0.0


def test_real_pair_changes_between_and_within_classes():
    from augkit.evaluate.classification import real_pair_changes

    x = np.array([0.0, 0.2, 1.0, 1.0], np.float32).reshape(4, 1, 1, 1)
    out = real_pair_changes(x, np.array([0, 0, 1, 1]))
    assert out["within_class"] == pytest.approx(0.1)  # (0.2 + 0.0) / 2
    assert out["between_classes"] == pytest.approx(0.9)  # (1 + 1 + 0.8 + 0.8) / 4
