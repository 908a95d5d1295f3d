"""Classical transforms: the 2D pipeline (``pipeline``, on albumentations), the 3D one for
whole volumes (``volume``), the named presets, and the image helpers that generators and
``expand`` share (``intensity``: scaling and resizing; ``blend``: pasting a lesion into an
image; ``anatomy``: where the head is). ``ClassicalPipeline`` and ``VolumePipeline`` load on
first use, so importing a helper does not import albumentations."""

from augkit import lazy_exports

__getattr__ = lazy_exports(__name__, {
    "ClassicalPipeline": "augkit.transforms.pipeline",
    "load_config": "augkit.transforms.pipeline",
    "VolumePipeline": "augkit.transforms.volume",
})
__all__ = ["ClassicalPipeline", "VolumePipeline", "load_config"]
