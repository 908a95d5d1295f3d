"""One place owns the PluginManager: it loads the ``augkit`` entry-point group, checks hook names,
and collects what plugins register. A plugin that fails to import is reported by name; the
rest keep working."""

from __future__ import annotations

import importlib.metadata
import sys
from dataclasses import dataclass, field
from typing import Any

import pluggy

from augkit.registry import hookspecs
from augkit.errors import PluginError

GROUP = "augkit"


@dataclass
class LoadFailure:
    name: str
    value: str
    error: str


@dataclass
class Registry:
    """What the loaded plugins registered, by name, with the plugin that registered each."""

    generators: dict[str, type] = field(default_factory=dict)
    formats: dict[str, Any] = field(default_factory=dict)
    presets: dict[str, dict] = field(default_factory=dict)
    origin: dict[tuple[str, str], str] = field(default_factory=dict)


_pm: pluggy.PluginManager | None = None
_failures: list[LoadFailure] = []
_registry: Registry | None = None


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def load_entry_points(pm: pluggy.PluginManager, entry_points=None) -> list[LoadFailure]:
    """Register every entry point of the group; collect (not raise) import failures."""
    failures = []
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=GROUP)
    for ep in entry_points:
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the others down
            failures.append(LoadFailure(ep.name, ep.value, f"{type(exc).__name__}: {exc}"))
    pm.check_pending()
    return failures


def get_plugin_manager() -> pluggy.PluginManager:
    global _pm, _failures
    if _pm is None:
        _pm = _new_manager()
        _failures = load_entry_points(_pm)
        for failure in _failures:
            print(
                f"augkit: plugin {failure.name!r} ({failure.value}) failed to load and is skipped: "
                f"{failure.error}",
                file=sys.stderr,
            )
    return _pm


def load_failures() -> list[LoadFailure]:
    get_plugin_manager()
    return list(_failures)


def reset() -> None:
    """Forget the cached registry (tests register and unregister plugins)."""
    global _registry
    _registry = None


def _plugin_name(pm: pluggy.PluginManager, hookimpl) -> str:
    return pm.get_name(hookimpl.plugin) or repr(hookimpl.plugin)


def collect(pm: pluggy.PluginManager | None = None, *, strict: bool = False) -> Registry:
    """Call the register hooks one plugin at a time, so each entry is attributed to its plugin.

    A plugin whose hook fails (an import error inside it, a duplicate name, a wrong type) is
    reported by name and skipped, so one broken plugin cannot take the others down; ``strict``
    raises instead (tests).
    """
    from augkit.generators.contract import Generator
    from augkit.io.base import DatasetFormat

    pm = pm or get_plugin_manager()
    reg = Registry()

    def make_register(kind: str, plugin: str):
        table = getattr(reg, kind)

        def register(item, config=None):
            if kind == "presets":
                name, value = item, config
                if not isinstance(name, str) or not isinstance(value, dict):
                    raise PluginError(
                        f"plugin {plugin!r} registered preset {name!r} with a {type(value).__name__}; "
                        "expected register(name: str, config: dict)."
                    )
            else:
                expected = Generator if kind == "generators" else DatasetFormat
                ok = isinstance(item, type) and issubclass(item, expected) if kind == "generators" \
                    else isinstance(item, expected)
                if not ok:
                    raise PluginError(
                        f"plugin {plugin!r} registered {item!r} as a {kind[:-1]}; expected "
                        f"{'a subclass' if kind == 'generators' else 'an instance'} of {expected.__name__}."
                    )
                name, value = getattr(item, "name", None), item
                if not isinstance(name, str) or not name:
                    raise PluginError(f"plugin {plugin!r} registered {item!r} without a name.")
            if name in table:
                raise PluginError(
                    f"plugin {plugin!r} registered {kind[:-1]} {name!r}, already registered by "
                    f"plugin {reg.origin[(kind, name)]!r}; rename one of them."
                )
            table[name] = value
            reg.origin[(kind, name)] = plugin

        return register

    hooks = {
        "generators": pm.hook.register_generators,
        "formats": pm.hook.register_formats,
        "presets": pm.hook.register_transform_presets,
    }
    broken: set[str] = set()
    for kind, hook in hooks.items():
        # get_hookimpls() is in registration order: built-ins (loaded first) claim names first.
        for impl in hook.get_hookimpls():
            plugin = _plugin_name(pm, impl)
            if plugin in broken:
                continue
            try:
                impl.function(make_register(kind, plugin))
            except Exception as exc:
                if strict:
                    raise
                broken.add(plugin)
                for table in (reg.generators, reg.formats, reg.presets):
                    for name in [n for n, v in table.items()
                                 if reg.origin.get((_kind_of(reg, table), n)) == plugin]:
                        del table[name]
                message = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
                _failures.append(LoadFailure(plugin, kind, message))
                print(f"augkit: plugin {plugin!r} is skipped: {message}", file=sys.stderr)
    return reg


def _kind_of(reg: Registry, table: dict) -> str:
    return next(k for k in ("generators", "formats", "presets") if getattr(reg, k) is table)


def registry() -> Registry:
    global _registry
    if _registry is None:
        _registry = collect()
    return _registry


def _lookup(kind: str, name: str, what: str, known_as: str, hint: str = "") -> Any:
    table = getattr(registry(), kind)
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise PluginError(f"unknown {what} {name!r}; {known_as}: {known}.{hint}")
    return table[name]


def get_generator(name: str) -> type:
    return _lookup("generators", name, "generator", "loaded generators", " See `augkit plugins`.")


def get_format(name: str):
    return _lookup("formats", name, "format", "known formats")


def get_preset(name: str) -> dict:
    return _lookup("presets", name, "transform preset", "known presets")
