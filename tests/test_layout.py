"""The house plan holds: no import cycle in ``src/`` or ``plugins/``, only the shared ground at
the top of ``src/augkit``, and the old flat module paths still import (with a warning)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import augkit

REPO = Path(__file__).resolve().parents[1]
ROOTS = (REPO / "src", REPO / "plugins")
# The top of src/augkit: entry points (cli, api) and the ground every subpackage stands on.
SHARED_GROUND = {"__init__", "__main__", "api", "cli", "errors", "outputs", "sample", "seeding"}


def module_files(roots=ROOTS) -> dict[str, Path]:
    modules = {}
    for root in roots:
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module ``name`` imports, at the top or inside a function (a lazy import
    closes a cycle all the same), under ``if TYPE_CHECKING`` too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return cycles


def test_no_import_cycle_in_src_or_plugins():
    modules = module_files()
    assert "augkit.expand.run" in modules and "augkit_lesionmix.generator" in modules  # the walk saw the tree
    assert import_cycles(modules) == []


def test_the_cycle_check_finds_a_cycle(tmp_path):
    """The check can fail: two modules that import each other, one of them lazily."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import thing\n")
    (pkg / "b.py").write_text("thing = 1\n\ndef later():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("from . import b\n")
    assert import_cycles(module_files([tmp_path])) == [["pkg.a", "pkg.b"]]


def test_only_the_shared_ground_at_the_top_of_the_package():
    top = {p.stem for p in (REPO / "src" / "augkit").glob("*.py")}
    assert top == SHARED_GROUND


@pytest.mark.parametrize("old", sorted(augkit.MOVED_MODULES))
def test_old_module_paths_import_with_a_deprecation_warning(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=augkit.MOVED_MODULES[old].replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is importlib.import_module(augkit.MOVED_MODULES[old])  # the same module, not a copy
    assert module.__spec__.name == augkit.MOVED_MODULES[old]


def test_documented_names_import_from_their_packages():
    from augkit import ClassicalPipeline, FolderSource, MixedSampler, VolumePipeline, read_dataset
    from augkit.expand import ExpandResult, expand
    from augkit.generators import Generator, condition_for
    from augkit.sampling import as_tf_dataset, steps_per_epoch
    from augkit.transforms import load_config

    from augkit.expand.run import expand as expand_run
    from augkit.generators.contract import Generator as contract_generator
    from augkit.sampling.sampler import MixedSampler as sampler_class

    assert expand is expand_run and Generator is contract_generator and MixedSampler is sampler_class
    assert all(callable(x) for x in (ClassicalPipeline, FolderSource, VolumePipeline, read_dataset,
                                      ExpandResult, condition_for, as_tf_dataset, steps_per_epoch,
                                      load_config))
    with pytest.raises(AttributeError, match="augkit.sampling"):
        importlib.import_module("augkit.sampling").NoSuchName


def test_old_documented_import_lines_still_run():
    """The README's imports before the split, in a fresh interpreter that shows the warnings."""
    code = ("import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            "try:\n    from augkit.sampler import FolderSource, MixedSampler\n"
            "except DeprecationWarning as w:\n    print(w)\n"
            "warnings.simplefilter('ignore')\n"
            "from augkit.engine import expand\nfrom augkit.sampler import FolderSource, MixedSampler\n"
            "from augkit.tfdata import as_tf_dataset\nfrom augkit.transforms import ClassicalPipeline\n"
            "import augkit.expand.run as run\nassert expand is run.expand\nprint('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["augkit.sampler moved to augkit.sampling.sampler; import it from "
                                          "there (the old path goes in augkit 0.3).", "ok"]


def readme_layout() -> dict[str, set[str]]:
    """``{folder: module names}`` for the ``src/augkit`` lines of the README's Layout section."""
    text = (REPO / "README.md").read_text()
    block = text[text.index("## Layout"):]
    block = block[block.index("```\n") + 4:]
    block = block[:block.index("```")]
    listed: dict[str, set[str]] = {"": set()}
    for line in block.splitlines()[1:]:
        if not line.startswith("  "):
            break  # past src/augkit
        words = line.split()
        if words[0].endswith("/"):
            listed[words[0].rstrip("/")] = set(words[1:])
        else:  # top-level modules, then a description
            listed[""] |= {w for w in words if w.isidentifier() and (REPO / "src" / "augkit" / f"{w}.py").exists()}
    return listed


def test_readme_layout_names_every_module_and_no_other():
    root = REPO / "src" / "augkit"
    actual = {"": {p.stem for p in root.glob("*.py")}}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        actual[folder.name] = {p.stem for p in folder.glob("*.py")}
    assert readme_layout() == actual
