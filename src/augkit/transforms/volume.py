"""The classical pipeline for volumes (X×Y×Z×C image, X×Y×Z labels): the same config, op names
and presets as the 2D ``ClassicalPipeline``, resampled with scipy.ndimage.

Validate, store, sample, apply: the config is checked by the 2D normaliser (so a preset means
the same in both), ops without a 3D meaning are refused, every random draw for a case is made
up front from per-op streams of one seed, then the work is done by pure functions.

Geometry (``affine``, ``rotate``, ``shift``, ``scale``, ``hflip``, ``elastic``) is composed
into ONE voxel mapping and applied once per channel: ``scipy.ndimage.affine_transform``
(``map_coordinates`` when an elastic field is drawn), images linear (``interpolation: cubic``
for cubic), labels nearest-neighbour, so no new label value appears. Rotations are about the
volume centre, in millimetres (the voxel sizes from the header, so anisotropic voxels rotate
as the anatomy does): ``rotate_range``/``limit`` about the axial (z) axis, ``tilt_range`` (3D
only, default ±5°) about the other two; ``shift_range`` is a fraction of each axis; ``scale`` is
isotropic; ``hflip`` is left-right: the voxel axis the affine says is L/R. The volume stays on
its grid, so its affine and header stay true and are kept. Only the output box that can hold
anything but fill is resampled (the air around a brain is fill either way): about 2-3× less
work on a BraTS case, with the same result.

Intensity ops (``brightness``, ``contrast``, ``gamma``, ``noise``) are drawn per channel
(modality), in each channel's [min, max] scaled to [0, 1] as the 2D pipeline does, on the
foreground only by default (voxels at 0 in every channel stay 0). They are applied after the
geometry.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from scipy import ndimage

from augkit.transforms.anatomy import EXACT_IN_FLOAT32
from augkit.errors import UsageError
from augkit.sample import Provenance, Sample
from augkit.transforms.pipeline import BORDER, TRANSFORMS, _normalise_config, _range
from augkit.transforms.presets import config_from

#: 3D-only keys, with their defaults, per op name (the 2D pipeline does not take them).
EXTRA_3D = {"affine": {"tilt_range": [-5, 5]}, "rotate": {"tilt_range": [-5, 5]}}
INTERPOLATIONS = {"linear": 1, "cubic": 3}
GEOMETRIC_3D = ("affine", "rotate", "shift", "scale", "hflip", "elastic")
INTENSITY_3D = ("brightness", "contrast", "gamma", "noise")
NO_3D_MEANING = {
    "resize": "a resize changes the voxel size, which the kept affine would no longer say; "
              "resample the volumes first (e.g. nibabel.processing.conform)",
    "vflip": "a vertical flip of a slice turns front to back, which no head does; "
             "hflip (left-right) is the volume flip",
}


def normalise_config3d(config: dict[str, Any]) -> dict[str, Any]:
    """The 2D validation plus the 3D-only keys and the refusal of ops with no 3D meaning."""
    if not isinstance(config, dict):
        return _normalise_config(config)  # raises with the 2D message
    interpolation = config.get("interpolation", "linear")
    if interpolation not in INTERPOLATIONS:
        raise UsageError(f"interpolation must be one of {sorted(INTERPOLATIONS)}. "
                         f"Received: interpolation={interpolation!r}")
    entries = config.get("transforms")
    extras = []
    if isinstance(entries, list):
        stripped = []
        for entry in entries:
            if isinstance(entry, dict):
                name = entry.get("name")
                if name in NO_3D_MEANING:
                    raise UsageError(f"transform {name!r} has no meaning for volumes: "
                                     f"{NO_3D_MEANING[name]}. Drop it from the preset for 3D data.")
                own = EXTRA_3D.get(name, {})
                extras.append({k: entry.get(k, v) for k, v in own.items()})
                entry = {k: v for k, v in entry.items() if k not in own}
            stripped.append(entry)
        entries = stripped
    base = _normalise_config({k: v for k, v in config.items() if k != "interpolation"}
                             | {"transforms": entries})
    for entry, extra in zip(base["transforms"], extras):
        for key, value in extra.items():
            _range(value, key)
            entry[key] = value
    return {"transforms": base["transforms"], "interpolation": interpolation}


class VolumePipeline:
    """A seeded 3D pipeline over (image X×Y×Z×C, mask X×Y×Z) that records what it drew.

    ``VolumePipeline()`` uses the seeds' set (as 2D); ``config=`` a dict; ``preset=`` a name.
    """

    def __init__(self, config: dict[str, Any] | None = None, preset: str | None = None):
        self._config = normalise_config3d(config_from(config, preset))
        self.order = INTERPOLATIONS[self._config["interpolation"]]

    def get_config(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._config))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "VolumePipeline":
        return cls(config=config)

    def geometric_only(self) -> "VolumePipeline":
        return VolumePipeline(config={**self._config, "transforms": [
            e for e in self._config["transforms"] if TRANSFORMS[e["name"]][2]]})

    # ---- sample --------------------------------------------------------------------------
    def draw(self, seed: int, num_channels: int) -> list[dict[str, Any]]:
        """Every op's random draws for one case (applied or not, each op from its own stream,
        so adding an op does not change what the others draw)."""
        entries = self._config["transforms"]
        states = np.random.SeedSequence(int(seed)).generate_state(max(len(entries), 1))
        drawn = []
        for entry, state in zip(entries, states):
            rng = np.random.default_rng(int(state))
            if rng.random() >= float(entry.get("p", 1.0)):
                continue
            drawn.append(_draw_op(entry, rng, num_channels))
        return drawn

    # ---- apply ---------------------------------------------------------------------------
    def apply(self, image: np.ndarray, mask: np.ndarray | None, seed: int,
              zooms=(1.0, 1.0, 1.0), lr_axis: int = 0
              ) -> tuple[np.ndarray, np.ndarray | None, list[dict[str, Any]]]:
        """Transform ``image`` (X×Y×Z×C, dtype kept) and ``mask`` (X×Y×Z labels) with one seed."""
        if image.ndim != 4 or (mask is not None and mask.shape != image.shape[:3]):
            raise UsageError(f"VolumePipeline takes an X×Y×Z×C image and an X×Y×Z mask. Received: "
                             f"image.shape={image.shape}, mask.shape={None if mask is None else mask.shape}")
        drawn = self.draw(seed, image.shape[-1])
        geometric = [d for d in drawn if d["op"] in GEOMETRIC_3D]
        for d in geometric:
            if d["op"] == "hflip":
                d["axis"] = int(lr_axis)
        fills = self._fills(image, mask) if geometric else None
        matrix, offset, field = _mapping(geometric, image.shape[:3], np.asarray(zooms, float))
        out = np.empty_like(image)
        box = _output_box(image, mask, fills, matrix, offset, field) if geometric else None
        for c in range(image.shape[-1]):
            if geometric:
                _resample_channel(out[..., c], image[..., c], matrix, offset, field, self.order, fills[0][c], box)
            else:
                out[..., c] = image[..., c]
        intensity = [d for d in drawn if d["op"] in INTENSITY_3D]
        if intensity:
            # Only the voxels an op may change are touched: the foreground (the brain, ~1/6 of
            # a BraTS grid) when every op keeps to it.
            foreground = _any_channel(out, 0)
            everywhere = any(d["region"] == "image" for d in intensity)
            for c in range(image.shape[-1]):
                low, high = float(image[..., c].min()), float(image[..., c].max())
                view = out[..., c]
                values = (view if everywhere else view[foreground]).astype(np.float32)
                rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6E6F, c]))
                values = _intensity(values, intensity, c, low, high,
                                    foreground if everywhere else None, rng)
                if everywhere:
                    out[..., c] = _cast(values, image.dtype)
                else:
                    view[foreground] = _cast(values, image.dtype)
        out_mask = mask
        if mask is not None and geometric:
            out_mask = _resample(mask, matrix, offset, field, 0, fills[1], box)
        params = [_jsonable(d) for d in drawn]
        if fills is not None:
            params.append({"op": "fill", "fill": [float(v) for v in fills[0]], "mask_fill": fills[1]})
        return out, out_mask, params

    def _fills(self, image: np.ndarray, mask: np.ndarray | None) -> tuple[list[float], int]:
        """The gap fill: per channel the median of the volume's faces (``fill: border``, 0 for
        the air around a head) or the configured number; the mask's most common face label."""
        geo = [e for e in self._config["transforms"] if "fill" in e]
        image_fill = geo[0]["fill"] if geo else BORDER
        mask_fill = geo[0]["mask_fill"] if geo else BORDER
        if image_fill == BORDER:
            faces = _faces(image)
            fill = [float(v) for v in np.median(faces, axis=0)]
        else:
            fill = [float(image_fill)] * image.shape[-1]
        if mask is None:
            return fill, 0
        if mask_fill == BORDER:
            values, counts = np.unique(_faces(mask[..., None])[:, 0], return_counts=True)
            return fill, int(values[int(np.argmax(counts))])
        return fill, int(mask_fill)

    def __call__(self, sample: Sample, *, seed: int, new_id: str) -> Sample:
        zooms, lr_axis = _geometry_of(sample)
        image, mask, params = self.apply(sample.image, sample.mask, seed, zooms, lr_axis)
        source = "gan+classical" if sample.provenance.source in ("gan", "gan+classical") else "classical"
        prov = Provenance(id=new_id, source=source, parent_id=sample.id,
                          generator=sample.provenance.generator,
                          checkpoint_hash=sample.provenance.checkpoint_hash,
                          seed=int(seed), params={"transforms": params})
        meta = {k: v for k, v in sample.meta.items() if k != "source_files"}  # not a byte copy now
        return sample.derive(image=image, mask=mask, provenance=prov, meta=meta)


# ---- pure functions -----------------------------------------------------------------------
def _draw_op(entry: dict[str, Any], rng: np.random.Generator, num_channels: int) -> dict[str, Any]:
    name = entry["name"]

    def uniform(value, key, size=None):
        low, high = _range(value, key)
        return rng.uniform(low, high, size)

    if name in ("affine", "rotate"):
        rot = entry["rotate_range"] if name == "affine" else entry["limit"]
        tilt = uniform(entry["tilt_range"], "tilt_range", 2)
        d = {"op": name, "rotate": [float(tilt[0]), float(tilt[1]), float(uniform(rot, "rotate"))]}
        if name == "affine":
            d["shift"] = [float(v) for v in uniform(entry["shift_range"], "shift_range", 3)]
            d["scale"] = float(uniform(entry["scale_range"], "scale_range"))
        return d
    if name == "shift":
        return {"op": name, "shift": [float(v) for v in uniform(entry["limit"], "limit", 3)]}
    if name == "scale":
        return {"op": name, "scale": float(uniform(entry["range"], "range"))}
    if name == "hflip":
        return {"op": name}
    if name == "elastic":
        return {"op": name, "alpha": float(entry["alpha"]), "sigma": float(entry["sigma"]),
                "field_seed": int(rng.integers(2**31))}
    region = entry.get("region", "foreground")
    if name == "brightness":
        return {"op": name, "beta": list(uniform(entry["limit"], "limit", num_channels)), "region": region}
    if name == "contrast":
        return {"op": name, "alpha": list(1.0 + uniform(entry["limit"], "limit", num_channels)), "region": region}
    if name == "gamma":
        low, high = entry["range"]
        return {"op": name, "gamma": list(rng.uniform(low, high, num_channels) / 100.0), "region": region}
    if name == "noise":
        low, high = entry["std_range"]
        return {"op": name, "std": list(rng.uniform(low, high, num_channels)), "region": region}
    raise UsageError(f"transform {name!r} has no 3D implementation")  # pragma: no cover


def _rotation(degrees) -> np.ndarray:
    ax, ay, az = np.deg2rad(degrees)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _mapping(geometric: list[dict[str, Any]], shape, zooms: np.ndarray):
    """(matrix, offset, elastic field or None) with input = matrix @ output + offset."""
    forward = np.eye(3)  # in millimetres about the centre
    shift = np.zeros(3)
    field = None
    for d in geometric:
        op = d["op"]
        if "rotate" in d:
            forward = _rotation(d["rotate"]) @ forward
        if "scale" in d:
            forward = d["scale"] * forward
        if "shift" in d:
            shift += np.asarray(d["shift"]) * np.asarray(shape)
        if op == "hflip":
            flip = np.eye(3)
            flip[d["axis"], d["axis"]] = -1
            forward = flip @ forward
        if op == "elastic":
            field = d
    voxel = np.diag(1 / zooms) @ forward @ np.diag(zooms)
    centre = (np.asarray(shape) - 1) / 2.0
    matrix = np.linalg.inv(voxel)
    offset = centre - matrix @ (centre + shift)
    return matrix, offset, field


def _faces(array: np.ndarray) -> np.ndarray:
    """The voxels on the six faces of an X×Y×Z×C array, as rows of C values."""
    c = array.shape[-1]
    return np.concatenate([array[[0, -1]].reshape(-1, c), array[:, [0, -1]].reshape(-1, c),
                           array[:, :, [0, -1]].reshape(-1, c)])


def _output_box(image, mask, fills, matrix, offset, field):
    """The output voxels that can differ from the fill: the forward image of the box of input
    voxels that differ from it (2 voxels of margin for interpolation). None: the whole grid."""
    if field is not None:
        return None
    shape = np.asarray(image.shape[:3])
    content = _any_channel(image, np.asarray(fills[0], dtype=np.float32).astype(image.dtype))
    if mask is not None:
        content |= mask != fills[1]
    if not content.any():
        return (np.zeros(3, int), np.zeros(3, int))
    spans = [np.flatnonzero(content.any(axis=tuple(a for a in range(3) if a != k))) for k in range(3)]
    lo, hi = np.array([s[0] for s in spans]), np.array([s[-1] for s in spans])
    lo, hi = lo - 2, hi + 2
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])], float)
    forward = np.linalg.inv(matrix)
    mapped = (corners - offset) @ forward.T
    out_lo = np.clip(np.floor(mapped.min(axis=0)) - 1, 0, shape).astype(int)
    out_hi = np.clip(np.ceil(mapped.max(axis=0)) + 2, 0, shape).astype(int)
    return out_lo, np.maximum(out_hi, out_lo)


def _elastic_coordinates(field: dict[str, Any], matrix, offset, shape) -> np.ndarray:
    """Input coordinates of every output voxel: the affine mapping plus a smooth random
    displacement (``alpha`` voxels × a Gaussian-smoothed (``sigma`` voxels) uniform field,
    made on a 4× coarser grid and zoomed up, which keeps it affordable)."""
    rng = np.random.default_rng(field["field_seed"])
    coarse = tuple(max(2, -(-n // 4)) for n in shape)
    grids = np.indices(shape, dtype=np.float32)
    coords = np.tensordot(matrix.astype(np.float32), grids, axes=1) + offset.astype(np.float32)[:, None, None, None]
    for k in range(3):
        noise = ndimage.gaussian_filter(rng.uniform(-1, 1, coarse), field["sigma"] / 4.0) * field["alpha"]
        coords[k] += ndimage.zoom(noise, np.asarray(shape) / np.asarray(coarse), order=1)[
            :shape[0], :shape[1], :shape[2]].astype(np.float32)
    return coords


def _resample(array: np.ndarray, matrix, offset, field, order: int, fill, box) -> np.ndarray:
    if field is not None:
        coords = _elastic_coordinates(field, matrix, offset, array.shape)
        return ndimage.map_coordinates(array, coords, order=order, mode="constant", cval=fill,
                                       output=array.dtype)
    out = np.full(array.shape, fill, dtype=array.dtype)
    lo, hi = box
    if np.any(hi <= lo):
        return out
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = ndimage.affine_transform(
        array, matrix, offset=offset + matrix @ lo, output_shape=tuple(hi - lo), order=order,
        mode="constant", cval=fill, output=array.dtype)
    return out


def _any_channel(image: np.ndarray, values) -> np.ndarray:
    """``np.any(image != values, axis=-1)`` (``values`` a scalar or one per channel), channel by
    channel: the same mask without a strided reduction over the short channel axis (~4× faster
    on a BraTS case)."""
    values = np.broadcast_to(np.asarray(values, dtype=image.dtype), image.shape[-1:])
    out = image[..., 0] != values[0]
    for k in range(1, image.shape[-1]):
        out |= image[..., k] != values[k]
    return out


def _resample_channel(dest: np.ndarray, channel: np.ndarray, matrix, offset, field, order: int, fill,
                      box) -> None:
    """``dest[...] = _cast(_resample(channel.astype(np.float32), ...), dest.dtype)`` with less
    memory traffic, the same values: scipy reads a contiguous copy of the channel in its own dtype
    (an int16 is the same double whether or not it went through float32; half the bytes to read),
    and only the box is cast; the rest of ``dest`` is the cast fill."""
    if field is not None or box is None or channel.dtype not in EXACT_IN_FLOAT32:
        dest[...] = _cast(_resample(channel.astype(np.float32), matrix, offset, field, order, fill, box), dest.dtype)
        return
    dest[...] = _cast(np.full(1, fill, dtype=np.float32), dest.dtype)[0]
    lo, hi = box
    if np.any(hi <= lo):
        return
    moved = ndimage.affine_transform(np.ascontiguousarray(channel), matrix, offset=offset + matrix @ lo, output_shape=tuple(hi - lo),
                                     order=order, mode="constant", cval=fill, output=np.float32)
    if np.issubdtype(dest.dtype, np.integer):
        info = np.iinfo(dest.dtype)
        np.rint(moved, out=moved)
        np.clip(moved, info.min, info.max, out=moved)  # integral and in range: the store is exact
    dest[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = moved


def _intensity(values: np.ndarray, ops, c: int, low: float, high: float,
               foreground: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Channel ``c``'s intensity ops on ``values`` (its foreground voxels, or the whole channel
    with ``foreground`` saying which voxels the foreground-only ops may change), in the
    channel's [min, max] scaled to [0, 1]."""
    span = float(high - low) or 1.0
    scaled = (values - low) / span
    for d in ops:
        before = scaled
        if d["op"] == "brightness":
            scaled = scaled + d["beta"][c]
        elif d["op"] == "contrast":
            scaled = scaled * d["alpha"][c]
        elif d["op"] == "gamma":
            scaled = np.power(np.clip(scaled, 0, 1), d["gamma"][c])
        elif d["op"] == "noise":
            scaled = scaled + rng.normal(0.0, d["std"][c], scaled.shape).astype(np.float32)
        scaled = np.clip(scaled, 0.0, 1.0)
        if foreground is not None and d["region"] == "foreground":
            scaled = np.where(foreground, scaled, before)
    return scaled * span + low


def _cast(values: np.ndarray, dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def _geometry_of(sample: Sample) -> tuple[tuple[float, float, float], int]:
    """Voxel sizes and the left-right voxel axis from the sample's source affine (1 mm and
    axis 0 without one)."""
    volumes = sample.meta.get("source_volumes") or {}
    vol = next(iter(volumes.values()), None)
    if vol is None:
        return (1.0, 1.0, 1.0), 0
    import nibabel as nib

    affine = np.asarray(vol["affine"], dtype=float)
    zooms = tuple(float(z) or 1.0 for z in np.sqrt((affine[:3, :3] ** 2).sum(axis=0)))
    codes = nib.orientations.aff2axcodes(affine)
    lr = next((k for k, code in enumerate(codes) if code in ("L", "R")), 0)
    return zooms, lr


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: ([round(float(x), 5) for x in v] if isinstance(v, list) else
                round(v, 5) if isinstance(v, float) else v) for k, v in d.items()}


__all__ = ["VolumePipeline", "normalise_config3d"]
