"""Which real sample is the parent of each added index, and which source (classical or GAN)
each index gets. Both are pure functions of (dataset, target, seed, fraction): that is what lets
any subset of indices be made on its own (shards, resume, any number of workers)."""

from __future__ import annotations

from augkit.io import Dataset
from augkit.seeding import rng_for


def plan_sources(num_real: int, target: int, gan_fraction: float) -> list[str]:
    """The source of every output index: reals first, then classical and GAN variants.

    Added index j belongs to the (j mod R)-th parent of ``plan_parents``' order, in round
    j div R. Each round takes its share of GAN
    samples (so any prefix of rounds holds the asked fraction, and the total is exact), and
    hands them to parents round-robin, so every parent gets both kinds in about the asked
    ratio. (Interleaving along j alone gave, at fraction 0.5 and an even R, some parents only
    GAN variants and the others only classical ones.)
    """
    plan = ["real"] * num_real
    num_added = target - num_real
    done, pointer = 0, 0
    while done < num_added:
        in_round = min(num_real, num_added - done)
        num_gan = int((done + in_round) * gan_fraction) - int(done * gan_fraction)
        turn = [(pointer + i) % num_real for i in range(num_real)]
        gan_parents = set([p for p in turn if p < in_round][:num_gan])
        plan += ["gan" if p in gan_parents else "classical" for p in range(in_round)]
        pointer = (pointer + num_gan) % num_real
        done += in_round
    return plan


_PARENT_STREAM = 0x706172  # "par": the parent order's own random stream


def _groups(dataset: Dataset) -> list[str]:
    """Every real sample's group; for lazily read volumes from their metas, loading nothing."""
    metas = getattr(dataset.samples, "metas", None)
    if metas is not None:
        return [str(m.get("group") or i) for i, m in enumerate(metas)]
    return [s.group for s in dataset.samples]


def parent_order(dataset: Dataset, seed: int) -> list[int]:
    """Every real index once: the groups (cases, patients) in a seeded order, the members of
    each group in a seeded order, then one member of each group in turn. So the first k
    parents come from k different groups as long as there are that many, whatever the ids."""
    rng = rng_for(seed, _PARENT_STREAM)
    groups: dict[str, list[int]] = {}
    for i, group in enumerate(_groups(dataset)):
        groups.setdefault(group, []).append(i)
    names = sorted(groups)
    names = [names[j] for j in rng.permutation(len(names))]
    members = [[groups[g][j] for j in rng.permutation(len(groups[g]))] for g in names]
    return [m[r] for r in range(max(map(len, members), default=0)) for m in members if r < len(m)]


def plan_parents(dataset: Dataset, target: int, balance: bool, seed: int = 0) -> list[int]:
    """The real parent of every added index, a pure function of (dataset, target, seed).

    Rounds of ``parent_order``: every real is a parent once per round, and within a round the
    parents go round-robin over cases/patients (a run that adds fewer samples than there are
    reals still spreads them over every case). With ``balance``, the reals of each class in
    that order until every class reaches its target count (``augkit.expand.balance``)."""
    num_real = len(dataset)
    order = parent_order(dataset, seed)
    if not balance:
        return [order[j % num_real] for j in range(target - num_real)]
    from augkit.expand.balance import label_order, plan_class_targets

    labels = [s.label for s in dataset.samples]
    targets = plan_class_targets(labels, target)
    members = {c: [i for i in order if labels[i] == c] for c in targets}
    wanted = {c: targets[c] - len(members[c]) for c in targets}
    # Round-robin over classes, so any prefix of the added samples is balanced too.
    parents, turn = [], {c: 0 for c in targets}
    while len(parents) < target - num_real:
        for c in sorted(targets, key=label_order):
            if turn[c] < wanted[c]:
                parents.append(members[c][turn[c] % len(members[c])])
                turn[c] += 1
    return parents
