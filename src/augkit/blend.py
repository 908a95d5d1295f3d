"""Lesion blending: keep a real image's anatomy and take only the lesion from a GAN painting.

A mask-to-image GAN trained on a few dozen slices paints the lesion where the mask says but
the rest of the brain as a blurry average; a segmenter trained on those images learns the blur.
With ``gan_region="lesion"`` the engine puts the GAN's pixels only inside the (slightly grown)
lesion of the real image under the same geometric transform, with a feathered edge, so the
label is still exact and everything outside the lesion is real. The idea is lesion inpainting
(e.g. Jin et al. 2021, "Free-form tumor synthesis"), reduced to a compositing step.
"""

from __future__ import annotations

import cv2
import numpy as np

GAN_REGIONS = ("image", "lesion")


def lesion_alpha(mask: np.ndarray, *, margin: float = 0.02, feather: float = 0.03) -> np.ndarray:
    """H×W float32 weight of the GAN painting: 1 inside the lesion (mask > 0) grown by
    ``margin`` × the image side, falling linearly to 0 over the next ``feather`` × side."""
    inside = np.asarray(mask) > 0
    if inside.ndim == 3:
        inside = inside.any(axis=-1)
    if not inside.any():
        return np.zeros(inside.shape, np.float32)
    side = max(inside.shape)
    # distance of every pixel to the nearest lesion pixel (0 inside)
    distance = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5)
    grown = margin * side
    ramp = max(feather * side, 1.0)
    return np.clip(1.0 - (distance - grown) / ramp, 0.0, 1.0).astype(np.float32)


def blend_lesion(background: np.ndarray, painted: np.ndarray, mask: np.ndarray, **kwargs) -> np.ndarray:
    """``painted`` inside the lesion of ``mask``, ``background`` outside, in the images' dtype."""
    if background.shape != painted.shape or background.dtype != painted.dtype:
        raise ValueError(f"blend_lesion needs images of one shape and dtype. Received: "
                         f"{background.shape} {background.dtype} and {painted.shape} {painted.dtype}")
    alpha = lesion_alpha(mask, **kwargs)
    if background.ndim == 3:
        alpha = alpha[..., None]
    out = alpha * painted.astype(np.float32) + (1.0 - alpha) * background.astype(np.float32)
    if np.issubdtype(background.dtype, np.integer):
        info = np.iinfo(background.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(background.dtype)
