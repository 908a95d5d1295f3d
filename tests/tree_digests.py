"""``tree_digest``: two outputs are byte-identical when their digests are equal. A plain module
(not conftest: tests/evaluate has a conftest of its own, so ``from conftest import`` is
ambiguous); the test modules at the top of tests/ import it."""

from __future__ import annotations

import hashlib
from pathlib import Path


def tree_digest(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file below ``root`` by relative path (names in ``skip`` left out)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in skip}
