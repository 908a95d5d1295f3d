"""The shipped dataset formats, registered through the ``augkit`` entry-point group exactly as a
third-party plugin's would be. The format modules are imported when the formats are collected,
not when the plugins load, so a command that needs no format (``augkit --help``) stays light."""

from augkit.registry.hookspecs import hookimpl


@hookimpl
def register_formats(register):
    from augkit.io.classfolders import ClassCsvFormat, ClassFoldersFormat
    from augkit.io.folder2d import Paired2DFormat
    from augkit.io.brats import BratsFormat
    from augkit.io.nifti import NiftiFormat
    from augkit.io.shards import ShardsFormat
    from augkit.io.tabimage import TabImageFormat

    register(Paired2DFormat())
    register(BratsFormat())
    register(NiftiFormat())
    register(TabImageFormat())
    register(ShardsFormat())
    register(ClassFoldersFormat())
    register(ClassCsvFormat())
