"""Classification gain: does added data help a small CNN classify real test images?

A *condition* is a training set built from the real training images plus added samples, and
optionally a batch mix:

- ``none``: the reals only.
- ``classical``: reals + classical variants (``augkit.transforms``, the ``seed`` preset by
  default) up to ``total`` images — what ``augkit expand`` makes without a generator.
- ``classical+mixup`` / ``classical+cutmix``: the classical set, every batch blended.
- ``classical+gen@f``: reals + added images of which a share ``f`` are generated (per class,
  balanced) and the rest classical variants, up to ``total``.
- ``gen``: generated images only, ``total`` of them (train-synthetic-test-real, TSTR).

Each run trains ``augkit.evaluate.classifier`` for the same number of steps and keeps the
weights of its best validation AUC. ``summarise`` turns runs into test AUC / accuracy per
condition with t-intervals over seeds, and each condition's difference to a reference condition
with a t-interval over seeds and a paired bootstrap interval over test images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from augkit.evaluate.classification import (accuracy, auc, bootstrap_difference, class_arrays,
                                            t_interval)
from augkit.sample import Sample
from augkit.seeding import derive_seed


@dataclass(frozen=True)
class Condition:
    """``added``: "none", "classical" or "gen" for what fills up to the total; ``gen_share``:
    the generated share of the added images when ``added="classical"``; ``mix``: batch mix."""

    name: str
    added: str = "classical"
    gen_share: float = 0.0
    mix: str | None = None

    @classmethod
    def parse(cls, name: str) -> "Condition":
        """``none``, ``classical``, ``classical+mixup``, ``classical+cutmix``,
        ``classical+gen@0.5``, ``gen``."""
        if name == "none":
            return cls(name, added="none")
        if name == "gen":
            return cls(name, added="gen")
        if name == "classical":
            return cls(name)
        if name in ("classical+mixup", "classical+cutmix"):
            return cls(name, mix=name.split("+")[1])
        if name.startswith("classical+gen@"):
            share = float(name.split("@")[1])
            if not 0 < share <= 1:
                raise ValueError(f"the generated share must be in (0, 1]. Received: {name!r}")
            return cls(name, gen_share=share)
        raise ValueError(f"unknown condition {name!r}; known: none, classical, classical+mixup, "
                         "classical+cutmix, classical+gen@F, gen")

    @property
    def needs_generator(self) -> bool:
        return self.added == "gen" or self.gen_share > 0


def classical_variants(real: Sequence[Sample], num: int, *, seed: int,
                       preset: str = "seed") -> list[Sample]:
    """``num`` classical variants, parents taken in turn (index i varies real[i % n] with the
    seed ``derive_seed(seed, i)``), as ``augkit expand`` does."""
    from augkit.transforms.pipeline import ClassicalPipeline

    pipeline = ClassicalPipeline(preset=preset)
    return [pipeline(real[i % len(real)], seed=derive_seed(seed, i), new_id=f"classical-{seed}-{i}")
            for i in range(num)]


def generated_by_class(generator: Any, classes: Sequence[Any], num: int, *, seed: int) -> list[Sample]:
    """``num`` generated samples, classes taking turns (so the classes are balanced)."""
    return list(generator.generate(num, seed=seed, conditions=list(classes)))


def condition_set(condition: Condition, real: Sequence[Sample], *, total: int,
                  classical: Sequence[Sample], generated: Sequence[Sample]) -> list[Sample]:
    """The training samples of ``condition``: ``classical`` and ``generated`` are pools (at
    least ``total`` long for what the condition uses); their first items are taken."""
    real = list(real)
    if condition.added == "none":
        return real
    if condition.added == "gen":
        return _take(generated, total, "generated")
    num_added = max(0, total - len(real))
    num_gen = int(round(condition.gen_share * num_added))
    return real + _take(classical, num_added - num_gen, "classical") + _take(generated, num_gen, "generated")


def _take(pool: Sequence[Sample], num: int, what: str) -> list[Sample]:
    if len(pool) < num:
        raise ValueError(f"the {what} pool holds {len(pool)} samples, {num} are needed")
    return list(pool[:num])


def run_condition(condition: Condition, train: Sequence[Sample], val: tuple[np.ndarray, np.ndarray],
                  test: tuple[np.ndarray, np.ndarray], classes: Sequence[Any], *, settings,
                  seed: int, size: tuple[int, int]) -> dict[str, Any]:
    """Train one classifier on ``train`` (Samples) and score it: best-val checkpoint, its val
    AUC, test AUC / accuracy and the test probabilities (for paired bootstraps)."""
    import dataclasses

    from augkit.evaluate.classifier import train_classifier

    x, y = class_arrays(train, classes, size=size)
    settings = dataclasses.replace(settings, mix=condition.mix)
    trained = train_classifier(x, y, *val, num_classes=len(classes), settings=settings, seed=seed)
    probs = trained.predict(test[0])
    return {"condition": condition.name, "seed": seed, "num_train": len(train),
            "sources": _sources(train), "best_step": trained.best_step,
            "val_auc": trained.best_val_auc, "test_auc": auc(test[1], probs),
            "test_accuracy": accuracy(test[1], probs), "test_probs": probs}


def _sources(samples: Sequence[Sample]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        out[s.provenance.source] = out.get(s.provenance.source, 0) + 1
    return out


def summarise(runs: Sequence[dict[str, Any]], test_labels: np.ndarray, *,
              reference: str = "classical", num_resamples: int = 1000) -> dict[str, Any]:
    """Per condition: test AUC / accuracy per seed, mean, 95 % t-interval over seeds, mean val
    AUC; and the difference to ``reference`` (paired by seed) with a t-interval over seeds and
    a paired bootstrap over test images."""
    by_cond: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_cond.setdefault(r["condition"], []).append(r)
    out: dict[str, Any] = {}
    ref = {r["seed"]: r for r in by_cond.get(reference, [])}
    for name, rs in by_cond.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        entry: dict[str, Any] = {"seeds": [r["seed"] for r in rs]}
        for metric in ("test_auc", "test_accuracy", "val_auc"):
            values = [r[metric] for r in rs]
            entry[metric] = {"per_seed": values, "mean": float(np.mean(values)),
                             "t_interval_95": t_interval(values)}
        paired = [r for r in rs if r["seed"] in ref]
        if name != reference and paired:
            entry["vs_" + reference] = {}
            for metric, fn in (("test_auc", auc), ("test_accuracy", accuracy)):
                diffs = [r[metric] - ref[r["seed"]][metric] for r in paired]
                entry["vs_" + reference][metric] = {
                    "mean": float(np.mean(diffs)), "per_seed": diffs,
                    "t_interval_95": t_interval(diffs),
                    "bootstrap_95_test_images": bootstrap_difference(
                        test_labels, [r["test_probs"] for r in paired],
                        [ref[r["seed"]]["test_probs"] for r in paired], metric=fn,
                        num_resamples=num_resamples)}
        out[name] = entry
    return out


def choose_on_val(runs: Sequence[dict[str, Any]], candidates: Sequence[str]) -> str:
    """The candidate condition with the highest mean validation AUC over its runs (ties: the
    first listed). Test figures play no part."""
    means = {c: np.mean([r["val_auc"] for r in runs if r["condition"] == c]) for c in candidates}
    return max(candidates, key=lambda c: (means[c], -candidates.index(c)))
