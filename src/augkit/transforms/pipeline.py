"""The classical pipeline: validate a config, build it once on albumentations, then for each
sample seed it, apply it jointly to image and mask, and record the parameters actually drawn.

Masks always use nearest-neighbour interpolation, so no new label value can appear. Where a
geometric op moves the image away from an edge, the gap is filled, by default from that sample's
own edge, so the gap continues what surrounds the image and image and mask agree there: the
image with ``fill`` (``"border"``: the median of the image's edge pixels per channel, which is
0 for the air around an MRI slice; or a number in the pipeline's range, see below), the mask
with ``mask_fill`` (``"border"``: the label most common on the mask's edge — background for a
tumour mask, cell interior for ISBI membranes, where label 0 means membrane; or a label value).

Intensity ops (brightness, contrast, gamma, noise) change the foreground only by default
(``region: foreground``): pixels at 0 in every channel (air and fill) stay 0, so MRI air is not
lifted to grey. ``region: image`` changes every pixel.

Images of any dtype are accepted: non-uint8 images are scaled per channel into [0, 1] float32
for the pipeline (albumentations' float convention) and cast back afterwards, so 0 there is
each channel's minimum.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np

from augkit.transforms.presets import config_from
from augkit.errors import UsageError
from augkit.sample import Provenance, Sample

# Each entry: config name -> (builder(params) -> albumentations transform, defaults, geometric?)
BORDER = "border"  # fill / mask_fill decided per sample from its edge pixels
_FILLS = {"fill": BORDER, "mask_fill": BORDER}  # every op that can open a gap at the edge takes these
REGIONS = ("foreground", "image")


def _border(p) -> dict[str, Any]:
    """Constant padding; a per-sample ``"border"`` fill is set just before each call."""
    return dict(border_mode=cv2.BORDER_CONSTANT,
                fill=0 if p["fill"] == BORDER else p["fill"],
                fill_mask=0 if p["mask_fill"] == BORDER else p["mask_fill"])


class _InForeground:
    """Mixin for an intensity op: pixels at 0 in every channel (air, padding) keep their value."""

    def apply(self, img, *args, **params):
        out = super().apply(img, *args, **params)
        if img.dtype == np.uint8 and out.dtype == np.uint8 and out.shape == img.shape \
                and (img.ndim == 2 or img.shape[-1] <= 4):
            # uint8 (the usual slice): the background is 0 in img, so keeping it is zeroing
            # out there; OpenCV's masked AND does that in one pass (the same bytes).
            foreground = img if img.ndim == 2 else img[..., 0]
            for k in range(1, 1 if img.ndim == 2 else img.shape[-1]):
                foreground = cv2.max(foreground, img[..., k])
            return out if foreground.all() else cv2.bitwise_and(out, out, mask=foreground).reshape(out.shape)
        background = _all_zero(img)
        if background.any():
            out = np.array(out, copy=True)
            # img[background] into out: a masked copy, not two fancy-indexed gathers
            np.copyto(out, img, where=background[..., None] if out.ndim == 3 else background)
        return out


def _all_zero(img: np.ndarray) -> np.ndarray:
    """``~np.any(img != 0, axis=-1)`` (H×W×C) or ``img == 0`` (H×W): channel by channel, not a
    strided reduction over a short last axis (~5× faster on a 3-channel slice)."""
    if img.ndim != 3:
        return img == 0
    zero = img[..., 0] == 0
    for k in range(1, img.shape[-1]):
        zero &= img[..., k] == 0
    return zero


# Same names as albumentations' classes, so the recorded "op" stays what it was.
class RandomBrightnessContrast(_InForeground, A.RandomBrightnessContrast):
    pass


class RandomGamma(_InForeground, A.RandomGamma):
    pass


class GaussNoise(_InForeground, A.GaussNoise):
    pass


def _intensity(foreground_cls, plain_cls):
    return lambda entry, **kw: (foreground_cls if entry["region"] == "foreground" else plain_cls)(**kw)


def _range(value, name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return (-float(value), float(value))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (float(value[0]), float(value[1]))
    raise UsageError(f"transform parameter {name!r} must be a number or a [low, high] pair. Received: {value!r}")


def _affine(p):
    return A.Affine(
        rotate=_range(p["rotate_range"], "rotate_range"),
        translate_percent=_range(p["shift_range"], "shift_range"),
        scale=_range(p["scale_range"], "scale_range"),
        p=p["p"], **_border(p),
    )


_brightness_contrast = _intensity(RandomBrightnessContrast, A.RandomBrightnessContrast)

TRANSFORMS: dict[str, tuple[Any, dict[str, Any], bool]] = {
    "affine": (_affine, {"rotate_range": [-20, 20], "shift_range": [-0.1, 0.1],
                         "scale_range": [0.9, 1.1], "p": 0.8, **_FILLS}, True),
    "rotate": (lambda p: A.Affine(rotate=_range(p["limit"], "limit"), p=p["p"], **_border(p)),
               {"limit": 20, "p": 0.5, **_FILLS}, True),
    "shift": (lambda p: A.Affine(translate_percent=_range(p["limit"], "limit"), p=p["p"], **_border(p)),
              {"limit": 0.1, "p": 0.5, **_FILLS}, True),
    "scale": (lambda p: A.Affine(scale=tuple(p["range"]), p=p["p"], **_border(p)),
              {"range": [0.9, 1.1], "p": 0.5, **_FILLS}, True),
    "hflip": (lambda p: A.HorizontalFlip(p=p["p"]), {"p": 0.5}, True),
    "vflip": (lambda p: A.VerticalFlip(p=p["p"]), {"p": 0.5}, True),
    "elastic": (lambda p: A.ElasticTransform(alpha=p["alpha"], sigma=p["sigma"], p=p["p"], **_border(p)),
                {"alpha": 30.0, "sigma": 6.0, "p": 0.3, **_FILLS}, True),
    "resize": (lambda p: A.Resize(height=int(p["height"]), width=int(p["width"]), p=1.0),
               {"height": None, "width": None}, True),
    "brightness": (lambda p: _brightness_contrast(
        p, brightness_limit=_range(p["limit"], "limit"), contrast_limit=(0, 0), p=p["p"]),
        {"limit": 0.2, "p": 0.5, "region": "foreground"}, False),
    "contrast": (lambda p: _brightness_contrast(
        p, brightness_limit=(0, 0), contrast_limit=_range(p["limit"], "limit"), p=p["p"]),
        {"limit": 0.2, "p": 0.5, "region": "foreground"}, False),
    "gamma": (lambda p: _intensity(RandomGamma, A.RandomGamma)(
        p, gamma_limit=tuple(p["range"]), p=p["p"]),
        {"range": [80, 120], "p": 0.5, "region": "foreground"}, False),
    "noise": (lambda p: _intensity(GaussNoise, A.GaussNoise)(
        p, std_range=tuple(p["std_range"]), p=p["p"]),
        {"std_range": [0.01, 0.05], "p": 0.3, "region": "foreground"}, False),
}

#: Keys that only volumes use (augkit.transforms.volume): a preset file may give them for 3D data;
#: the 2D pipeline keeps them in its config and ignores them.
VOLUME_ONLY_KEYS = {"affine": {"tilt_range"}, "rotate": {"tilt_range"}}


def _normalise_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate and fill defaults so that ``get_config()`` round-trips exactly."""
    if not isinstance(config, dict) or not isinstance(config.get("transforms"), list):
        raise UsageError(
            "a transform config must be a mapping with a 'transforms' list, e.g. "
            "{'transforms': [{'name': 'hflip', 'p': 0.5}]}. Received: " + repr(config)[:120]
        )
    entries = []
    for i, entry in enumerate(config["transforms"]):
        if not isinstance(entry, dict) or "name" not in entry:
            raise UsageError(f"transform #{i} must be a mapping with a 'name'. Received: {entry!r}")
        name = entry["name"]
        if name not in TRANSFORMS:
            raise UsageError(f"unknown transform {name!r} (#{i}); known: {', '.join(sorted(TRANSFORMS))}.")
        defaults = TRANSFORMS[name][1]
        unknown = set(entry) - set(defaults) - {"name"} - VOLUME_ONLY_KEYS.get(name, set())
        if unknown:
            raise UsageError(
                f"transform {name!r} does not take {sorted(unknown)}; it takes {sorted(defaults)}."
            )
        full = {"name": name, **defaults, **{k: v for k, v in entry.items() if k != "name"}}
        missing = [k for k, v in full.items() if v is None]
        if missing:
            raise UsageError(f"transform {name!r} needs {missing}.")
        if "p" in full and not 0.0 <= float(full["p"]) <= 1.0:
            raise UsageError(f"transform {name!r}: p must be in [0, 1]. Received: p={full['p']}")
        _check_fills(name, full)
        entries.append(full)
    if "interpolation" in config:  # volumes only (augkit.transforms.volume checks it); kept so a
        return {"transforms": entries, "interpolation": config["interpolation"]}  # preset file keeps it
    return {"transforms": entries}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_fills(name: str, entry: dict[str, Any]) -> None:
    if "fill" in entry and entry["fill"] != BORDER and not _is_number(entry["fill"]):
        raise UsageError(f"transform {name!r}: fill must be a number or {BORDER!r}. "
                         f"Received: fill={entry['fill']!r}")
    if "mask_fill" in entry and entry["mask_fill"] != BORDER and not (
            _is_number(entry["mask_fill"]) and float(entry["mask_fill"]).is_integer()
            and entry["mask_fill"] >= 0):
        raise UsageError(f"transform {name!r}: mask_fill must be a label value (an integer >= 0) "
                         f"or {BORDER!r}. Received: mask_fill={entry['mask_fill']!r}")
    if "region" in entry and entry["region"] not in REGIONS:
        raise UsageError(f"transform {name!r}: region must be one of {REGIONS}. "
                         f"Received: region={entry['region']!r}")


def border_values(array: np.ndarray) -> np.ndarray:
    """The pixels on the edge of an H×W[×C] array (each edge pixel once)."""
    if array.shape[0] < 3 or array.shape[1] < 3:
        return array.reshape(-1, *array.shape[2:])
    return np.concatenate([array[0], array[-1], array[1:-1, 0], array[1:-1, -1]])


def most_common_border_value(mask: np.ndarray):
    """The label most common on the mask's edge (the smallest one on a tie)."""
    edge = border_values(mask)
    if edge.dtype == np.uint8:  # a histogram, not a sort: the same label
        return int(np.argmax(np.bincount(edge.ravel(), minlength=1)))
    values, counts = np.unique(edge, return_counts=True)
    return values[int(np.argmax(counts))].item()


def _median_fill(edge: np.ndarray) -> tuple[float, ...]:
    """``tuple(float(v) for v in np.median(edge, axis=0))`` of N×C edge pixels; for uint8 from
    each channel's histogram (the two middle values, averaged as numpy does), not a partition."""
    if edge.dtype != np.uint8 or len(edge) == 0:
        return tuple(float(v) for v in np.median(edge, axis=0))
    n = len(edge)
    fills = []
    for c in range(edge.shape[1]):
        cum = np.cumsum(np.bincount(edge[:, c], minlength=256))
        low, high = np.searchsorted(cum, [(n - 1) // 2, n // 2], side="right")
        fills.append((float(low) + float(high)) / 2)
    return tuple(fills)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a preset file (YAML or JSON)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the preset file ({exc.strerror}); check the path.") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise UsageError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({exc}).") from None
    try:
        return _normalise_config(data)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.round(value.astype(float), 5).tolist()
    if isinstance(value, (np.floating, float)):
        return round(float(value), 5)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# Parameters albumentations records that say nothing about what was drawn.
_NOISE_KEYS = {"shape", "interpolation", "bbox_matrix", "output_shape"}
_RENAMED = {"fill_mask": "mask_fill"}  # recorded under augkit's config names


def _applied_params(applied: list[tuple[str, dict]]) -> list[dict[str, Any]]:
    out = []
    for name, params in applied:
        # Dense fields (elastic displacement maps, noise) are reproducible from the seed, so
        # only their small summary parameters are kept. The fills are kept: with "border" they
        # were chosen for this sample.
        kept = {_RENAMED.get(k, k): _jsonable(v) for k, v in params.items()
                if k not in _NOISE_KEYS and not (isinstance(v, np.ndarray) and v.size > 16)}
        out.append({"op": name, **kept})
    return out


class ClassicalPipeline:
    """A seeded albumentations pipeline over (image, mask) that records what it drew.

    ``ClassicalPipeline()`` uses the seeds' set; ``config=`` takes a dict, ``preset=`` a
    registered preset name. Same seed, same output.
    """

    def __init__(self, config: dict[str, Any] | None = None, preset: str | None = None):
        self._config = _normalise_config(config_from(config, preset))
        ops = [TRANSFORMS[e["name"]][0](e) for e in self._config["transforms"]]
        self._compose = A.Compose(ops, mask_interpolation=cv2.INTER_NEAREST, save_applied_params=True)
        # ops whose fill is chosen per sample from its edge pixels
        self._border_fills = [(op, e["fill"] == BORDER, e["mask_fill"] == BORDER)
                              for op, e in zip(ops, self._config["transforms"])
                              if BORDER in (e.get("fill"), e.get("mask_fill"))]

    def get_config(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._config))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ClassicalPipeline":
        return cls(config=config)

    def output_size(self) -> tuple[int, int] | None:
        """(height, width) of every output when the pipeline resizes (its last resize), else None."""
        sizes = [(int(e["height"]), int(e["width"])) for e in self._config["transforms"]
                 if e["name"] == "resize"]
        return sizes[-1] if sizes else None

    def resize_only(self) -> "ClassicalPipeline":
        """The pipeline's resizes alone: what brings a real sample to its variants' size."""
        return ClassicalPipeline(config={"transforms": [
            e for e in self._config["transforms"] if e["name"] == "resize"]})

    def geometric_only(self) -> "ClassicalPipeline":
        """The label-safe spatial part: used to make new masks for a mask-conditioned GAN."""
        kept = [e for e in self._config["transforms"] if TRANSFORMS[e["name"]][2]]
        return ClassicalPipeline(config={"transforms": kept})

    def apply(self, image: np.ndarray, mask: np.ndarray | None, seed: int
              ) -> tuple[np.ndarray, np.ndarray | None, list[dict[str, Any]]]:
        """Transform ``image`` (H×W×C, dtype kept) and ``mask`` (H×W labels) with one seed."""
        work, restore = _to_pipeline_range(image)
        kwargs = {"image": work}
        mask_work = None
        if mask is not None:
            mask_work = mask.astype(np.uint8) if mask.max(initial=0) < 256 and mask.min(initial=0) >= 0 \
                else mask.astype(np.float32)  # float keeps any integer label exactly under nearest
            kwargs["mask"] = mask_work
        self._seed(int(seed))
        self._set_border_fills(work, mask_work)
        result = self._compose(**kwargs)
        out_image = restore(result["image"])
        out_mask = None if mask is None else result["mask"].astype(mask.dtype)
        return out_image, out_mask, _applied_params(result["applied_transforms"])

    def _set_border_fills(self, image: np.ndarray, mask: np.ndarray | None) -> None:
        if not self._border_fills:
            return
        edge = border_values(image if image.ndim == 3 else image[..., None])
        image_fill = _median_fill(edge)
        mask_fill = 0 if mask is None else most_common_border_value(mask)
        for op, image_border, mask_border in self._border_fills:
            if image_border:
                op.fill = image_fill
            if mask_border:
                op.fill_mask = mask_fill

    def _seed(self, seed: int) -> None:
        # Compose.set_random_seed hands every op the same seed, which makes their draws move
        # together (a flip at p=0.5 would always come with brightness at p=0.5). Each op gets
        # its own stream from one SeedSequence instead. The Compose itself draws nothing at p=1.
        states = np.random.SeedSequence(seed).generate_state(len(self._compose.transforms))
        for op, op_seed in zip(self._compose.transforms, states):
            op.set_random_seed(int(op_seed))

    def __call__(self, sample: Sample, *, seed: int, new_id: str) -> Sample:
        image, mask, params = self.apply(sample.image, sample.mask, seed)
        source = "gan+classical" if sample.provenance.source in ("gan", "gan+classical") else "classical"
        prov = Provenance(
            id=new_id, source=source, parent_id=sample.id,
            generator=sample.provenance.generator, checkpoint_hash=sample.provenance.checkpoint_hash,
            seed=int(seed), params={"transforms": params},
        )
        return sample.derive(image=image, mask=mask, provenance=prov)


def _to_pipeline_range(image: np.ndarray):
    """uint8 goes through as is; anything else is scaled per channel into [0, 1] float32."""
    if image.dtype == np.uint8:
        return image, lambda out: out
    dtype = image.dtype
    img = image.astype(np.float32)
    low = img.min(axis=(0, 1), keepdims=True)
    span = img.max(axis=(0, 1), keepdims=True) - low
    span[span == 0] = 1.0
    scaled = (img - low) / span

    def restore(out: np.ndarray) -> np.ndarray:
        if out.ndim == 2:
            out = out[..., None]
        back = np.clip(out, 0.0, 1.0) * span + low
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            return np.clip(np.rint(back), info.min, info.max).astype(dtype)
        return back.astype(dtype)

    return scaled, restore
