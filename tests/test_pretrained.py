import json

import numpy as np
import pytest

from singan_augment import pretrained
from singan_augment.engine.sample import sample
from singan_augment.errors import PyramidFileError

EXPECTED = {"brain_t1_t2_flair", "histology_he_nuclei", "brain_healthy_tumour_host"}


def test_shipped_pyramids_are_listed():
    assert EXPECTED <= set(pretrained.names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_by_name_and_card_has_real_figures(name):
    pyr = pretrained.load(name)
    assert pyr.complete and pyr.num_scales >= 5
    card = pretrained.model_card(name)
    q = json.loads((pretrained.path(name) / "quality.json").read_text())
    assert f"{q['start_scale_1']['swd']:.4f}" in card
    assert "Licence" in card and "Reproduce" in card
    assert (pretrained.path(name) / "LICENSE.md").is_file()
    # samples are finite, in a sane range, and diverse
    s = sample(pyr, 0, 2, start_scale=1)
    assert np.isfinite(s.images).all()
    assert not np.allclose(s.images[0], s.images[1])


def test_histology_pyramid_decodes_masks():
    pyr = pretrained.load("histology_he_nuclei")
    s = sample(pyr, 0, 2, start_scale=0)
    assert s.labels is not None and set(np.unique(s.labels)) <= {0, 1}
    assert 0.01 < (s.labels > 0).mean() < 0.8  # nuclei present, not everywhere


@pytest.mark.parametrize(
    "bad", ["../pretrained", "/etc/passwd", "brain/../x", "BRAIN", "", "a" * 200, "no_such_pyramid"]
)
def test_bad_names_are_refused(bad):
    with pytest.raises(PyramidFileError):
        pretrained.load(bad)


def test_demo_quick_writes_figures(tmp_path, capsys):
    from singan_augment.cli import main

    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 0
    for f in (
        "multicontrast_mri.png",
        "histology_pairs.png",
        "tumour_insertion.png",
        "demo_figures.json",
    ):
        assert (tmp_path / f).stat().st_size > 1000 or f.endswith(".json")
    figs = json.loads((tmp_path / "demo_figures.json").read_text())
    tum = figs["tumour_insertion"]
    assert tum["seam_naive"] > 0
    scales = [int(k.rsplit("_", 1)[1]) for k in tum if k.startswith("seam_published_scale_")]
    assert sorted(scales) == [2, 3]  # --quick: the medical study's injection scales
    assert sorted(figs["multicontrast_mri"]) == ["start_scale_0", "start_scale_1"]
    for s in scales:  # the lesion-keeping blend keeps more of the lesion than the published one
        assert (
            tum[f"lesion_retention_keep_core_scale_{s}"]
            > tum[f"lesion_retention_published_scale_{s}"]
        )
        assert 0.0 <= tum[f"lesion_sign_agreement_keep_core_scale_{s}"] <= 1.0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_2d_pyramids_are_trained_at_their_images_resolution_with_the_fast_schedule(name):
    """Issue 13: the 2-D shipped pyramids are trained at the training image's own size (long
    side >= 160 px) with the clamp and the fast schedule, and their cards compare them with
    the 80-px pyramids they replaced."""
    pyr = pretrained.load(name)
    meta = json.loads((pretrained.path(name) / "pyramid.json").read_text())
    assert max(pyr.shapes[-1]) >= 160
    assert list(pyr.shapes[-1]) == meta["provenance"]["shape"][1:]  # not resized
    assert pyr.model_config.clamp is True
    assert meta["schedule"] == "fast"
    q = json.loads((pretrained.path(name) / "quality.json").read_text())
    old = q["previous"]
    assert old["reference_shape"] != list(pyr.shapes[-1])  # scored at the old size
    card = pretrained.model_card(name)
    assert "Old against new" in card
    assert f"{old['new']['0']['swd']:.4f}" in card and f"{old['old']['0']['swd']:.4f}" in card
    assert f"{q['weights_mib']:.1f} MiB" in card


def test_the_volume_pyramid_loads_samples_whole_volumes_and_its_card_has_real_figures():
    pyr = pretrained.load("brain_mni152_volume")
    assert pyr.complete and pyr.spatial_dims == 3 and pyr.shapes[-1] == (54, 64, 52)
    assert pyr.spacing is not None and len(pyr.spacing) == 3
    card = pretrained.model_card("brain_mni152_volume")
    q = json.loads((pretrained.path("brain_mni152_volume") / "quality.json").read_text())
    assert f"{q['start_scale_1']['through_plane_ratio']:.2f}" in card
    assert f"{q['start_scale_0']['swd_cubes']:.4f}" in card
    stack = q["slice_stack_2d"]["start_scale_0"]  # the slice-wise 2-D baseline is reported
    assert f"{stack['swd_coronal']:.4f}" in card
    assert "Licence" in card and (pretrained.path("brain_mni152_volume") / "LICENSE.md").is_file()
    s = sample(pyr, 0, 2, start_scale=2)
    assert s.images.shape == (2, 3, 54, 64, 52) and np.isfinite(s.images).all()
    assert not np.allclose(s.images[0], s.images[1])
