"""The shipped dataset formats, registered through the ``augkit`` entry-point group exactly as a
third-party plugin's would be."""

from augkit.registry.hookspecs import hookimpl
from augkit.io.classfolders import ClassCsvFormat, ClassFoldersFormat
from augkit.io.folder2d import Paired2DFormat
from augkit.io.nifti import BratsFormat, NiftiFormat
from augkit.io.shards import ShardsFormat
from augkit.io.tabimage import TabImageFormat


@hookimpl
def register_formats(register):
    register(Paired2DFormat())
    register(BratsFormat())
    register(NiftiFormat())
    register(TabImageFormat())
    register(ShardsFormat())
    register(ClassFoldersFormat())
    register(ClassCsvFormat())
