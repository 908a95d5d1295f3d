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
    side = max(inside.shape)
    return feathered_alpha(inside, margin * side, feather * side)


def feathered_alpha(inside: np.ndarray, margin_px: float, feather_px: float) -> np.ndarray:
    """H×W float32: 1 on ``inside`` (boolean) grown by ``margin_px`` pixels, falling linearly
    to 0 over the next ``feather_px`` pixels (at least one)."""
    inside = np.asarray(inside, bool)
    if not inside.any():
        return np.zeros(inside.shape, np.float32)
    # distance of every pixel to the nearest inside pixel (0 inside)
    distance = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5)
    ramp = max(float(feather_px), 1.0)
    return np.clip(1.0 - (distance - float(margin_px)) / ramp, 0.0, 1.0).astype(np.float32)


def poisson_blend(background: np.ndarray, source: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Seamless cloning (Pérez et al. 2003) for any number of channels and any dtype: inside
    ``region`` (boolean H×W) the result keeps ``source``'s gradients and meets ``background``
    at the region's border; outside it is ``background``. Float32 H×W×C out, unclipped.

    One sparse Laplace system over the region's pixels, solved once for all channels
    (``cv2.seamlessClone`` takes 8-bit 3-channel images only; BraTS slices are 4-channel int16).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import splu

    bg = np.asarray(background, np.float32)
    src = np.asarray(source, np.float32)
    if bg.ndim == 2:
        bg, src = bg[..., None], src[..., None]
    region = np.asarray(region, bool).copy()
    region[0, :] = region[-1, :] = region[:, 0] = region[:, -1] = False  # the frame is boundary
    out = bg.copy()
    ys, xs = np.nonzero(region)
    if len(ys) == 0:
        return out
    h, w = region.shape
    index = -np.ones((h, w), np.int64)
    index[ys, xs] = np.arange(len(ys))
    rows, cols, vals = [np.arange(len(ys))], [np.arange(len(ys))], [np.full(len(ys), 4.0)]
    rhs = np.zeros((len(ys), bg.shape[-1]), np.float64)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        rhs += src[ys, xs] - src[ny, nx]  # guidance: the source's gradient
        neighbour = index[ny, nx]
        inner = neighbour >= 0
        rows.append(np.nonzero(inner)[0])
        cols.append(neighbour[inner])
        vals.append(-np.ones(int(inner.sum())))
        rhs[~inner] += bg[ny[~inner], nx[~inner]]  # Dirichlet border: the background
    n = len(ys)
    matrix = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(n, n)).tocsc()
    out[ys, xs] = splu(matrix).solve(rhs).astype(np.float32)
    return out


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
