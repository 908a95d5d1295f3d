"""The 3D pipeline on small synthetic volumes: labels stay labels, the geometry is what it says,
the same seed gives the same arrays, and presets mean the same as in 2D."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from augkit.errors import UsageError
from augkit.transforms.pipeline import ClassicalPipeline
from augkit.transforms.presets import PRESETS
from augkit.transforms.volume import (VolumePipeline, _any_channel, _cast, _mapping, _output_box, _resample,
                                      _resample_channel)

LABELS = {0, 1, 2, 4}


def _volume(shape=(32, 32, 16), channels=2, seed=0):
    """A bright ellipsoid 'head' in air with a labelled 'tumour' of BraTS labels."""
    rng = np.random.default_rng(seed)
    x, y, z = np.indices(shape)
    c = (np.asarray(shape) - 1) / 2
    head = ((x - c[0]) / 12) ** 2 + ((y - c[1]) / 10) ** 2 + ((z - c[2]) / 6) ** 2 < 1
    image = np.zeros((*shape, channels), np.int16)
    for k in range(channels):
        image[..., k] = np.where(head, rng.integers(100, 900, shape), 0)
    mask = np.zeros(shape, np.int16)
    mask[12:18, 10:16, 6:10] = 2
    mask[14:16, 12:14, 7:9] = 1
    mask[13, 11, 8] = 4
    return image, mask


def test_labels_stay_labels_and_same_seed_same_arrays():
    image, mask = _volume()
    pipe = VolumePipeline(preset="strong")  # every op, elastic included
    for seed in range(4):
        out, out_mask, params = pipe.apply(image, mask, seed)
        assert out.dtype == image.dtype and out.shape == image.shape
        assert set(np.unique(out_mask)) <= LABELS and out_mask.dtype == mask.dtype
        again, again_mask, again_params = pipe.apply(image, mask, seed)
        np.testing.assert_array_equal(out, again)
        np.testing.assert_array_equal(out_mask, again_mask)
        assert params == again_params and params[0]["op"] == "affine"
    first, _, _ = pipe.apply(image, mask, 0)
    assert not np.array_equal(first, pipe.apply(image, mask, 1)[0])


def test_hflip_is_the_left_right_axis_and_exact():
    image, mask = _volume()
    pipe = VolumePipeline(config={"transforms": [{"name": "hflip", "p": 1.0}]})
    out, out_mask, params = pipe.apply(image, mask, 0, lr_axis=0)
    np.testing.assert_array_equal(out, image[::-1])
    np.testing.assert_array_equal(out_mask, mask[::-1])
    assert params[0] == {"op": "hflip", "axis": 0}
    out, _, _ = pipe.apply(image, mask, 0, lr_axis=1)
    np.testing.assert_array_equal(out, image[:, ::-1])


def test_a_quarter_turn_about_the_axial_axis_is_rot90():
    image, mask = _volume()
    pipe = VolumePipeline(config={"transforms": [
        {"name": "rotate", "limit": [90, 90], "tilt_range": [0, 0], "p": 1.0}]})
    out, out_mask, _ = pipe.apply(image, mask, 0)
    turned = [k for k in (1, -1) if np.array_equal(out_mask, np.rot90(mask, k, axes=(0, 1)))]
    assert turned, "a 90° turn about z must move labels as np.rot90 does"
    np.testing.assert_allclose(out, np.rot90(image, turned[0], axes=(0, 1)), atol=1)


def test_resampling_only_the_output_box_changes_nothing():
    image, mask = _volume()
    d = {"op": "affine", "rotate": [4.0, -3.0, 17.0], "shift": [0.05, -0.1, 0.02], "scale": 1.07}
    matrix, offset, field = _mapping([d], image.shape[:3], np.ones(3))
    box = _output_box(image, mask, ([0.0, 0.0], 0), matrix, offset, field)
    assert np.prod(box[1] - box[0]) < np.prod(image.shape[:3])  # the box is a real saving
    for c in range(2):
        channel = image[..., c].astype(np.float32)
        full = ndimage.affine_transform(channel, matrix, offset=offset, order=1, cval=0.0)
        np.testing.assert_allclose(_resample(channel, matrix, offset, None, 1, 0.0, box), full, atol=1e-3)
    full = ndimage.affine_transform(mask, matrix, offset=offset, order=0, cval=0)
    np.testing.assert_array_equal(_resample(mask, matrix, offset, None, 0, 0, box), full)


def test_brightness_is_drawn_per_modality_and_keeps_the_air():
    image, mask = _volume(channels=4)
    pipe = VolumePipeline(config={"transforms": [{"name": "brightness", "limit": 0.2, "p": 1.0}]})
    out, out_mask, params = pipe.apply(image, mask, 3)
    assert len(params[0]["beta"]) == 4 and len(set(params[0]["beta"])) == 4
    air = ~np.any(image != 0, axis=-1)
    assert (out[air] == 0).all() and (out[~air] != image[~air]).any()
    np.testing.assert_array_equal(out_mask, mask)  # intensity leaves labels alone


def test_cubic_interpolation_is_a_config_choice():
    image, mask = _volume()
    config = {"transforms": [{"name": "rotate", "limit": 10, "p": 1.0}], "interpolation": "cubic"}
    pipe = VolumePipeline(config=config)
    assert pipe.order == 3 and VolumePipeline.from_config(pipe.get_config()).get_config() == pipe.get_config()
    _, out_mask, _ = pipe.apply(image, mask, 0)
    assert set(np.unique(out_mask)) <= LABELS  # labels stay nearest-neighbour
    with pytest.raises(UsageError, match="interpolation"):
        VolumePipeline(config={**config, "interpolation": "spline"})


def test_a_preset_file_reaches_the_3d_pipeline_whole(tmp_path):
    from augkit.api import pipeline_from

    path = tmp_path / "p.yaml"
    path.write_text("interpolation: cubic\ntransforms:\n  - {name: rotate, limit: 10, tilt_range: [-2, 2]}\n"
                    "  - {name: hflip, p: 0.5}\n")
    volume = VolumePipeline(config=pipeline_from(str(path)).get_config())  # what expand does
    assert volume.order == 3 and volume.get_config()["transforms"][0]["tilt_range"] == [-2, 2]
    path.write_text("transforms:\n  - {name: vflip}\n")  # fine for 2D, refused for volumes
    with pytest.raises(UsageError, match="'vflip' has no meaning for volumes"):
        VolumePipeline(config=pipeline_from(str(path)).get_config())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_shipped_preset_means_the_same_in_3d(name):
    config = VolumePipeline(preset=name).get_config()
    assert [e["name"] for e in config["transforms"]] == [e["name"] for e in PRESETS[name]["transforms"]]


def test_ops_without_a_3d_meaning_are_refused_clearly():
    with pytest.raises(UsageError, match="'vflip' has no meaning for volumes.*hflip"):
        VolumePipeline(config={"transforms": [{"name": "vflip"}]})
    with pytest.raises(UsageError, match="'resize' has no meaning for volumes.*voxel size"):
        VolumePipeline(config={"transforms": [{"name": "resize", "height": 8, "width": 8}]})
    with pytest.raises(UsageError, match="unknown transform 'twist'"):
        VolumePipeline(config={"transforms": [{"name": "twist"}]})
    # tilt_range is the one 3D-only key: one preset serves both; 2D keeps it and ignores it
    config = {"transforms": [{"name": "affine", "tilt_range": [-2, 2], "p": 1.0}]}
    assert VolumePipeline(config=config).get_config()["transforms"][0]["tilt_range"] == [-2, 2]
    flat = ClassicalPipeline(config=config)
    assert flat.get_config()["transforms"][0]["tilt_range"] == [-2, 2]
    image = np.zeros((16, 16, 1), np.uint8)
    assert flat.apply(image, None, 0)[0].shape == (16, 16, 1)
    with pytest.raises(UsageError, match="does not take"):
        ClassicalPipeline(config={"transforms": [{"name": "hflip", "tilt_range": [-2, 2]}]})


ZOOMS = (1.0, 3.0, 1.0)  # anisotropic voxels: 3 mm along y, 1 mm along x and z
TURN = {"transforms": [{"name": "rotate", "limit": [90, 90], "tilt_range": [0, 0], "p": 1.0}]}


def _rod_along_x(shape=(33, 11, 5)):
    """A 25 mm rod along x through the centre of a 33 × 33 × 5 mm field of 1 × 3 × 1 mm voxels."""
    image = np.zeros((*shape, 1), np.int16)
    mask = np.zeros(shape, np.int16)
    mask[4:29, 5, 2] = 1
    image[..., 0] = 500 * mask
    return image, mask


def test_a_rotation_on_anisotropic_voxels_turns_the_anatomy_in_millimetres():
    """A quarter turn about z takes a 25 mm rod along x (25 voxels of 1 mm) to a 25 mm rod along
    y: about 25 / 3 ≈ 8 voxels of 3 mm, not 25 voxels (a turn in voxel units) nor all 11."""
    image, mask = _rod_along_x()
    out, out_mask, _ = VolumePipeline(config=TURN).apply(image, mask, 0, zooms=ZOOMS)
    xs, ys, zs = np.nonzero(out_mask)
    assert set(zs.tolist()) == {2}  # along y on the centre line; its 3 mm thickness (one 3 mm
    assert set(xs.tolist()) == {15, 16, 17}  # voxel in y) is now 3 voxels of 1 mm in x
    length_mm = (ys.max() - ys.min() + 1) * ZOOMS[1]
    assert 24 <= length_mm <= 30, f"rod of {length_mm} mm after the turn, was 25 mm"
    assert abs((ys.min() + ys.max()) / 2 - 5) <= 0.5  # still centred


def test_a_ball_in_millimetres_stays_a_ball_under_any_rotation_on_anisotropic_voxels():
    """A 10 mm ball is an ellipsoid on 1 × 3 × 1 mm voxels; turned about z by 37° (in mm) it is
    the same ball, so only surface voxels change, whereas a turn in voxel units moves most."""
    shape = (41, 15, 21)
    x, y, z = np.indices(shape).astype(float)
    c = (np.asarray(shape) - 1) / 2
    ball = (((x - c[0]) * ZOOMS[0]) ** 2 + ((y - c[1]) * ZOOMS[1]) ** 2 + ((z - c[2]) * ZOOMS[2]) ** 2) < 10 ** 2
    mask = ball.astype(np.int16)
    image = (300 * mask)[..., None].astype(np.int16)
    pipe = VolumePipeline(config={"transforms": [{"name": "rotate", "limit": [37, 37], "tilt_range": [0, 0],
                                                  "p": 1.0}]})
    _, out_mask, _ = pipe.apply(image, mask, 0, zooms=ZOOMS)
    changed = np.count_nonzero(out_mask != mask) / np.count_nonzero(mask)
    # only the surface voxels flip (14 % here, the ball is 7 voxels across in y); a turn taken in
    # voxel units moves 84 % of them
    assert changed < 0.2, f"{changed:.0%} of the ball's voxels changed under a rotation in mm"
    _, wrong, _ = pipe.apply(image, mask, 0, zooms=(1.0, 1.0, 1.0))  # the same turn taken in voxels
    assert np.count_nonzero(wrong != mask) / np.count_nonzero(mask) > 0.6


def test_the_voxel_sizes_come_from_the_source_affine():
    """Through ``VolumePipeline(sample)`` the zooms are read from the NIfTI affine of the case."""
    from augkit.sample import Provenance, Sample

    image, mask = _rod_along_x()
    affine = np.diag([*ZOOMS, 1.0])
    sample = Sample(image, Provenance("rod"), mask=mask,
                    meta={"source_volumes": {"t1": {"affine": affine.tolist()}}})
    out = VolumePipeline(config=TURN)(sample, seed=0, new_id="rod_aug")
    expected, expected_mask, _ = VolumePipeline(config=TURN).apply(image, mask, 0, zooms=ZOOMS)
    np.testing.assert_array_equal(out.mask, expected_mask)
    ys = np.nonzero(out.mask)[1]
    assert (ys.max() - ys.min() + 1) * ZOOMS[1] <= 30


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
def test_resample_channel_is_the_plain_cast_of_the_float_resample(dtype):
    """The fast per-channel path (channel read in its own dtype, only the box cast) gives the
    bytes of ``_cast(_resample(channel.astype(float32)))``."""
    rng = np.random.default_rng(4)
    image = np.zeros((30, 28, 20, 2), dtype)
    image[6:24, 5:22, 4:16] = (rng.random((18, 17, 12, 2)) * 200).astype(dtype)
    mask = np.zeros(image.shape[:3], np.uint8)
    pipe = VolumePipeline()
    geometric = [d | ({"axis": 0} if d["op"] == "hflip" else {}) for d in pipe.draw(3, 2) if d["op"] in ("affine", "hflip")]
    matrix, offset, field = _mapping(geometric, image.shape[:3], np.ones(3))
    fills = ([0.0, 3.0], 0)
    box = _output_box(image, mask, fills, matrix, offset, field)
    for c in range(2):
        want = _cast(_resample(image[..., c].astype(np.float32), matrix, offset, field, 1, fills[0][c], box), dtype)
        got = np.empty(image.shape[:3], dtype)
        _resample_channel(got, image[..., c], matrix, offset, field, 1, fills[0][c], box)
        assert np.array_equal(got, want)
    assert np.array_equal(_any_channel(image, [0, 3]), np.any(image != np.asarray([0, 3], dtype), axis=-1))


def test_resample_channel_keeps_int32_values_beyond_float32_as_before():
    """An int32 channel goes through float32 first, as before (its big values round there)."""
    image = np.zeros((12, 12, 8, 1), np.int32)
    image[3:9, 3:9, 2:6] = 2**24 + 1
    pipe = VolumePipeline()
    geometric = [d | ({"axis": 0} if d["op"] == "hflip" else {}) for d in pipe.draw(1, 1) if d["op"] in ("affine", "hflip")]
    matrix, offset, field = _mapping(geometric, image.shape[:3], np.ones(3))
    box = _output_box(image, None, ([0.0], 0), matrix, offset, field)
    want = _cast(_resample(image[..., 0].astype(np.float32), matrix, offset, field, 1, 0.0, box), np.int32)
    got = np.empty(image.shape[:3], np.int32)
    _resample_channel(got, image[..., 0], matrix, offset, field, 1, 0.0, box)
    assert np.array_equal(got, want)
