"""The plugin host: entry-point discovery (with a fake installed distribution), failures
reported by name, duplicate and wrong-type registrations refused."""

import sys
import textwrap

import pytest

from augkit.registry import host as plugins
from augkit.errors import PluginError
from augkit.registry.hookspecs import hookimpl

FAKE_PLUGIN = '''
from augkit.generators.contract import Generator
from augkit.registry.hookspecs import hookimpl


class EchoGenerator(Generator):
    name = "echo"
    tasks = frozenset({"unconditional"})

    def get_config(self):
        return {}

    def fit(self, train_samples, **kwargs):
        return {}

    def generate(self, num_samples, *, seed, conditions=None, batch_size=16):
        return iter(())

    def save(self, directory):
        pass

    @classmethod
    def load(cls, directory):
        return cls()

    @property
    def checkpoint_hash(self):
        return "0"


@hookimpl
def register_generators(register):
    register(EchoGenerator)


@hookimpl
def register_transform_presets(register):
    register("echo-preset", {"transforms": [{"name": "hflip", "p": 1.0}]})
'''


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """An installed distribution on sys.path with two entry points: one good, one broken."""
    (tmp_path / "augkit_echo.py").write_text(FAKE_PLUGIN)
    (tmp_path / "augkit_broken.py").write_text("raise ImportError('needs libfoo')\n")
    info = tmp_path / "augkit_echo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: augkit-echo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""
        [augkit]
        echo = augkit_echo
        broken = augkit_broken
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("augkit_echo", "augkit_broken"):
        sys.modules.pop(name, None)


@pytest.fixture
def pm():
    return plugins._new_manager()


def test_third_party_plugin_loads_from_a_distribution(fake_distribution, pm):
    failures = plugins.load_entry_points(pm)
    reg = plugins.collect(pm)
    assert "echo" in reg.generators and reg.origin[("generators", "echo")] == "echo"
    assert "echo-preset" in reg.presets
    # built-ins came through the same group
    assert {"paired2d", "brats", "nifti"} <= set(reg.formats)
    assert reg.origin[("formats", "paired2d")] == "formats"
    # the broken one is reported by name, the rest still work
    assert [f.name for f in failures] == ["broken"]
    assert "needs libfoo" in failures[0].error


def test_duplicate_names_are_refused_naming_both_plugins(pm):
    class Dup:
        @hookimpl
        def register_transform_presets(self, register):
            register("seed", {"transforms": []})

    plugins.load_entry_points(pm)
    pm.register(Dup(), name="dup-plugin")
    with pytest.raises(PluginError, match="'dup-plugin' registered preset 'seed', already registered by plugin 'presets'"):
        plugins.collect(pm, strict=True)


def test_wrong_types_are_refused(pm):
    class Bad:
        @hookimpl
        def register_generators(self, register):
            register(object)

    pm.register(Bad(), name="bad-plugin")
    with pytest.raises(PluginError, match="'bad-plugin' registered .* expected a subclass of Generator"):
        plugins.collect(pm, strict=True)


def test_a_plugin_whose_hook_fails_is_skipped_and_named(pm, capsys):
    class Half:
        @hookimpl
        def register_transform_presets(self, register):
            register("half-preset", {"transforms": []})

        @hookimpl
        def register_generators(self, register):
            import augkit_not_written_yet  # noqa: F401  (a half-written plugin)

    plugins.load_entry_points(pm)
    pm.register(Half(), name="half")
    reg = plugins.collect(pm)
    assert "paired2d" in reg.formats and "seed" in reg.presets  # the others still work
    assert "half-preset" not in reg.presets  # nothing of the broken plugin is half-registered
    assert "plugin 'half' is skipped: ModuleNotFoundError" in capsys.readouterr().err


def test_misspelled_hook_fails_loudly(pm):
    class Typo:
        @hookimpl
        def register_generator(self, register):  # missing "s"
            pass

    pm.register(Typo(), name="typo")
    with pytest.raises(Exception, match="register_generator"):
        pm.check_pending()


def test_unknown_names_list_what_is_loaded():
    with pytest.raises(PluginError, match="unknown format 'dicom'; known formats: brats, .*paired2d"):
        plugins.get_format("dicom")


def _imported_top_modules(package_dir):
    """Top-level module names imported anywhere under ``package_dir`` (lazy imports included)."""
    import ast
    names = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_the_core_and_the_plugins_do_not_import_registered_plugins():
    # a third party's plugin must be able to do all a built-in one does, and removing one
    # built-in plugin must not break another: shared GAN code lives in its own package
    # (augkit_latent), never in the core and never in a registered plugin
    import importlib
    from importlib.metadata import entry_points
    from pathlib import Path

    import augkit

    registered = {ep.value.split(":")[0].split(".")[0] for ep in entry_points(group="augkit")}
    registered.discard("augkit")
    assert {"augkit_dcgan", "augkit_tlgan", "augkit_pix2pix"} <= registered
    core = Path(augkit.__file__).parent
    assert not _imported_top_modules(core) & registered, "the core imports a plugin"
    for name in sorted(registered):
        package = Path(importlib.import_module(name).__file__).parent
        others = _imported_top_modules(package) & (registered - {name})
        assert not others, f"{name} imports {sorted(others)}"
