"""The study's training-free baseline (examples/patch_nn.py): deterministic, image and label
kept consistent, and a faithful copy when no noise is injected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from singan_augment.testing import load_script

patch_nn = load_script(Path(__file__).resolve().parents[1] / "examples" / "patch_nn.py")


def _blobs(h=36, w=40, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for _ in range(5):
        cy, cx = rng.integers(5, h - 5), rng.integers(5, w - 5)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 12
    img = np.where(mask, 0.8, 0.2) + 0.03 * rng.standard_normal((h, w))
    return np.stack([np.clip(img, 0, 1), mask]).astype(np.float32)


def test_shapes_ranges_determinism_and_binary_labels():
    x = _blobs()
    a = patch_nn.generate(x, 1, label_channels=[1], passes=2)
    b = patch_nn.generate(x, 1, label_channels=[1], passes=2)
    c = patch_nn.generate(x, 2, label_channels=[1], passes=2)
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0.0 <= a[0].min() and a[0].max() <= 1.0
    assert set(np.unique(a[1])) <= {0.0, 1.0}


def test_label_follows_the_image():
    """Labels come from the same source patches as intensities: bright pixels are labelled."""
    x = _blobs()
    for seed in range(3):
        s = patch_nn.generate(x, seed, label_channels=[1], passes=2)
        fg, bg = s[0][s[1] > 0], s[0][s[1] == 0]
        assert fg.size and bg.size and fg.mean() > bg.mean() + 0.4


def test_without_noise_it_rebuilds_the_source():
    x = _blobs()
    s = patch_nn.generate(x, 0, label_channels=[1], noise=0.0, passes=2)
    assert np.abs(s[0] - x[0]).mean() < 0.05
    inter = (s[1] * x[1]).sum()
    assert 2 * inter / (s[1].sum() + x[1].sum()) > 0.9


def test_one_hot_labels_stay_one_hot_and_small_inputs_are_refused():
    x = _blobs()
    two = np.concatenate([x, (1 - x[1])[None]])  # classes: blob, background-as-class
    s = patch_nn.generate(two, 0, label_channels=[1, 2], passes=1)
    assert np.all(s[1:].sum(axis=0) <= 1.0)
    with pytest.raises(ValueError, match="smaller than"):
        patch_nn.generate(np.zeros((1, 5, 5), np.float32), 0)


def test_level_shapes_end_at_the_image():
    shapes = patch_nn.level_shapes(64, 80)
    assert shapes[-1] == (64, 80) and min(shapes[0]) <= 26


@pytest.mark.parametrize("shared", [True, False])
def test_shared_noise_is_one_map_for_every_channel(shared):
    torch = pytest.importorskip("torch")
    src = torch.zeros(1, 3, 9, 11)
    q = patch_nn.noisy_start(src, 1.5, torch.Generator().manual_seed(0), shared=shared)
    assert q.shape == src.shape
    same = [torch.equal(q[0, 0], q[0, c]) for c in (1, 2)]
    assert same == [shared, shared]
    assert 1.0 < float(q.std()) < 2.0  # the noise's std, 1.5


def test_shared_noise_changes_the_sample_and_stays_deterministic():
    x = np.repeat(_blobs()[:1], 3, axis=0)
    a = patch_nn.generate(x, 1, passes=1, noise=1.5, shared_noise=True)
    np.testing.assert_array_equal(
        a, patch_nn.generate(x, 1, passes=1, noise=1.5, shared_noise=True)
    )
    assert not np.array_equal(a, patch_nn.generate(x, 1, passes=1, noise=1.5))
