"""The plugin host: ``hookspecs`` (the hooks a plugin implements, and ``hookimpl``) and
``host`` (the pluggy PluginManager: entry-point loading, the registry of generators, formats
and presets, and what failed to load)."""
