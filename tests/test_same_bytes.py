"""Golden bytes of `expand`: small runs on the demo, LGG, BraTS (cases and slices) and a
lesionmix run must write exactly the files recorded in ``golden/expand_digests.json``.

The digests were recorded before the package was split into subpackages (issue 25) and pin
every later refactor or speed-up to the same output. A change that is *meant* to change the
output regenerates them on purpose, and says so in its commit:

    python tests/test_same_bytes.py --write
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

from tree_digests import tree_digest

GOLDEN = Path(__file__).parent / "golden" / "expand_digests.json"
DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()

# name -> (input folder, expand keywords); the runs are small so the test stays quick.
RUNS = {
    "demo": (None, dict(target=40, seed=3)),
    "lgg": ("lgg/train30", dict(target=45, seed=1)),
    "lgg_lesionmix": ("lgg/train30", dict(target=45, seed=2, generator="lesionmix")),
    "brats_cases": ("brats", dict(target=5, seed=0)),
    "brats_slices": ("brats", dict(target=24, seed=0, unit="slice", slices="one")),
}




def run(name: str, work: Path) -> dict[str, str]:
    from augkit.api import expand_folder

    folder, options = RUNS[name]
    if folder is None:
        from augkit.cli import cli  # the demo writer, through the command a user runs
        from click.testing import CliRunner

        result = CliRunner().invoke(cli, ["demo", str(work / "demo-in")])
        assert result.exit_code == 0, result.output
        in_dir = work / "demo-in"
    else:
        in_dir = DATA / folder
    options = dict(options)
    out = work / f"{name}-out"
    expand_folder(in_dir, options.pop("target"), out, progress=False, **options)
    return tree_digest(out, skip=(".augkit.json",))  # the marker holds paths


@pytest.mark.parametrize("name", sorted(RUNS))
def test_expand_writes_the_recorded_bytes(name, tmp_path, shared_data):
    golden = json.loads(GOLDEN.read_text())
    assert golden[name] == run(name, tmp_path)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        digests = {name: run(name, Path(tmp)) for name in sorted(RUNS)}
    GOLDEN.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}: {sum(map(len, digests.values()))} files in {len(digests)} runs")
