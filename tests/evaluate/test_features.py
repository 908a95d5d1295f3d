"""The hand-made feature space: shape, standardisation, masks (empty ones too), bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from augkit.errors import UsageError
from augkit.evaluate.features import FeatureSpace, ncc_matrix, thumbnails, zscore_flat
from augkit.sample import Provenance, Sample


def test_inside_outside_features_standardised_on_real(real_set):
    space = FeatureSpace.fit(real_set)
    x = space.transform(real_set)
    assert space.use_masks and x.shape == (30, len(space.names)) == (30, 2 * 29 + 1)
    assert any(n.startswith("inside/") for n in space.names) and "mask_fraction" in space.names
    varying = space.std != 1.0
    assert np.allclose(x.mean(axis=0), 0.0, atol=1e-9)
    assert np.allclose(x[:, varying].std(axis=0), 1.0)


def test_without_masks_the_whole_image_is_one_region(real_set):
    space = FeatureSpace.fit(real_set, use_masks=False)
    assert not space.use_masks and len(space.names) == 29
    assert all(n.startswith("image/") for n in space.names)


def test_empty_mask_is_imputed_not_nan(real_set):
    space = FeatureSpace.fit(real_set)
    s = real_set[0]
    empty = dataclasses.replace(s, mask=np.zeros_like(s.mask))
    raw = space.raw([empty])[0]
    inside = np.array([n.startswith("inside/") for n in space.names])
    assert np.isnan(raw[inside]).all() and not np.isnan(raw[~inside]).any()
    z = space.transform([empty])[0]
    assert np.isfinite(z).all() and np.all(z[inside] == 0.0)


def test_channels_must_match(real_set):
    space = FeatureSpace.fit(real_set)
    rgb = [Sample(image=np.zeros((48, 48, 3), np.uint8), provenance=Provenance(id="x"))]
    with pytest.raises(UsageError, match="channels"):
        space.transform(rgb)
    mixed = real_set[:2] + rgb
    with pytest.raises(UsageError, match="mixes images"):
        FeatureSpace.fit(mixed)
    bad = np.full((48, 48, 1), np.nan, np.float32)
    with pytest.raises(UsageError, match="'nan'.*NaN"):
        space.transform([Sample(image=bad, provenance=Provenance(id="nan"))])


def test_ncc_ignores_brightness_and_contrast(real_set):
    t = thumbnails(real_set[:2])
    z = zscore_flat(np.concatenate([t, 3 * t + 7, np.zeros_like(t[:1])]))
    m = ncc_matrix(z, z)
    assert m[0, 2] == pytest.approx(1.0) and m[1, 3] == pytest.approx(1.0)
    assert m[0, 1] < 0.9 and m[4, 0] == 0.0  # a constant image correlates with nothing
