"""Class balancing for ``expand`` on classification data: how many samples of each class the
output should hold, so that every class reaches the same count where the reals allow it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

from augkit.errors import UsageError


def label_order(label: Hashable) -> tuple[str, str]:
    """A sort key for labels of any hashable type (``"G2"``, ``3``): deterministic across runs."""
    return (type(label).__name__, str(label))


def plan_class_targets(labels: Sequence[Hashable], target_total: int) -> dict[Hashable, int]:
    """The number of samples each class should have in an output of ``target_total`` samples.

    ``labels`` are the real samples' labels (one per sample). Real samples are all kept, so a
    class never gets fewer than it has. The rest is split as evenly as possible: classes are
    filled up to one common level, and a class that already has more than that level keeps its
    reals and takes nothing. What an integer level leaves over (fewer samples than classes at
    the level) goes one each to the classes at the level, in sorted label order.

    Returns ``{label: total count, reals included}`` in sorted label order; the values sum to
    ``target_total``. New samples to make for a class: its count minus its real count.
    """
    labels = list(labels)
    if not labels:
        raise UsageError("class balancing needs labelled real samples; received none.")
    if any(label is None for label in labels):
        missing = sum(label is None for label in labels)
        raise UsageError(
            f"class balancing needs a label on every real sample; {missing} of {len(labels)} "
            "have none. Fix: read the data as classfolders/classcsv or drop unlabelled samples."
        )
    target_total = int(target_total)
    if target_total < len(labels):
        raise UsageError(
            f"target {target_total} is smaller than the {len(labels)} real samples; every real "
            f"sample is kept, so ask for at least {len(labels)}."
        )
    counts = Counter(labels)
    order = sorted(counts, key=label_order)

    def total_at(level: int) -> int:
        return sum(max(counts[c], level) for c in order)

    # Largest common level that fits: total_at grows with level, so bisect on it.
    low, high = 0, target_total
    while low < high:
        mid = (low + high + 1) // 2
        if total_at(mid) <= target_total:
            low = mid
        else:
            high = mid - 1
    level = low
    plan = {c: max(counts[c], level) for c in order}
    left = target_total - sum(plan.values())
    for c in order:  # fewer left than classes at the level, since level + 1 did not fit
        if left == 0:
            break
        if plan[c] == level:
            plan[c] += 1
            left -= 1
    return plan
