import json
import os
import shutil

import numpy as np
import pytest

from singan_augment.engine.sample import sample
from singan_augment.errors import PyramidFileError
from singan_augment.files.pyramid_files import JSON_NAME, WEIGHTS_NAME, load_pyramid, save_pyramid


@pytest.fixture
def pyr_copy(tiny_pyramid_dir, tmp_path):
    dst = tmp_path / "p"
    shutil.copytree(tiny_pyramid_dir, dst)
    return dst


def test_round_trip_gives_bit_identical_samples(tiny_pyramid, tmp_path):
    save_pyramid(tiny_pyramid, tmp_path / "again")
    again = load_pyramid(tmp_path / "again")
    for k in (0, 1):
        np.testing.assert_array_equal(
            sample(tiny_pyramid, 4, 2, start_scale=k).images,
            sample(again, 4, 2, start_scale=k).images,
        )
    assert again.channels == tiny_pyramid.channels
    assert (
        again.model_config == tiny_pyramid.model_config
        and again.train_config == tiny_pyramid.train_config
    )


def test_metadata_contents(tiny_pyramid_dir):
    meta = json.loads((tiny_pyramid_dir / JSON_NAME).read_text())
    assert meta["format"] == "singan-augment-pyramid" and meta["version"] == 1
    assert meta["channels"]["names"] == ["t1", "t2", "flair"]
    assert len(meta["noise_amps"]) == len(meta["shapes"]) == 3
    assert len(meta["provenance"]["sha256"]) == 64 and meta["provenance"]["shape"] == [3, 32, 36]
    assert meta["train_config"]["gp_weight"] == 0.1 and meta["train_config"]["rec_weight"] == 10.0


def test_tampered_weights_are_refused(pyr_copy):
    w = pyr_copy / WEIGHTS_NAME
    data = bytearray(w.read_bytes())
    data[-5] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(PyramidFileError, match="sha256"):
        load_pyramid(pyr_copy)


def test_truncated_weights_are_refused(pyr_copy):
    w = pyr_copy / WEIGHTS_NAME
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(PyramidFileError):
        load_pyramid(pyr_copy)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda m: m.update(format="other"), "not a singan-augment pyramid"),
        (lambda m: m.update(version=99), "version"),
        (lambda m: m.pop("shapes"), "missing field"),
        (lambda m: m.update(num_trained=9), "num_trained"),
        (lambda m: m["channels"].update(kinds=["image", "image", "mystery"]), "channels or config"),
        (lambda m: m["model_config"].update(unknown_knob=1), "channels or config"),
    ],
)
def test_edited_metadata_is_refused(pyr_copy, edit, match):
    p = pyr_copy / JSON_NAME
    meta = json.loads(p.read_text())
    edit(meta)
    p.write_text(json.dumps(meta))
    with pytest.raises(PyramidFileError, match=match):
        load_pyramid(pyr_copy)


def test_shape_edit_with_consistent_hash_is_refused(pyr_copy):
    # Changing the recorded shapes leaves the weights' hash valid; the metadata checksum (and,
    # were it recomputed, the tensor shapes) no longer match.
    p = pyr_copy / JSON_NAME
    meta = json.loads(p.read_text())
    meta["shapes"][0] = [26, 29]
    p.write_text(json.dumps(meta))
    with pytest.raises(PyramidFileError, match="metadata_sha256|expected float32|do not match"):
        load_pyramid(pyr_copy)


@pytest.mark.parametrize(
    "text", ["", "{", "[1, 2]", "[" * 5000 + "]" * 5000, '{"a":' * 40 + "1" + "}" * 40]
)
def test_malformed_json_is_refused(pyr_copy, text):
    (pyr_copy / JSON_NAME).write_text(text)
    with pytest.raises(PyramidFileError):
        load_pyramid(pyr_copy)


def test_oversized_json_is_refused(pyr_copy):
    (pyr_copy / JSON_NAME).write_text(" " * (2 << 20) + "{}")
    with pytest.raises(PyramidFileError, match="limit"):
        load_pyramid(pyr_copy)


def test_missing_files(tmp_path, pyr_copy):
    with pytest.raises(PyramidFileError, match="no such"):
        load_pyramid(tmp_path / "nothing")
    os.remove(pyr_copy / JSON_NAME)
    with pytest.raises(PyramidFileError, match="missing"):
        load_pyramid(pyr_copy)


def test_extra_files_are_ignored(pyr_copy):
    (pyr_copy / "evil.pkl").write_bytes(b"\x80\x04not loaded")
    assert load_pyramid(pyr_copy).complete


def test_interrupted_save_rolls_forward(tiny_pyramid, pyr_copy, tmp_path):
    # Simulate a crash between renaming the new weights and renaming the new JSON: the
    # complete pending JSON matches the new weights and is taken.
    other = tmp_path / "other"
    save_pyramid(tiny_pyramid, other, extra={"note": "new"})
    shutil.copy(other / WEIGHTS_NAME, pyr_copy / WEIGHTS_NAME)
    shutil.copy(other / JSON_NAME, pyr_copy / (JSON_NAME + ".tmp"))
    (pyr_copy / JSON_NAME).write_text(
        (pyr_copy / JSON_NAME).read_text().replace('"weights_sha256": "', '"weights_sha256": "0')
    )
    assert load_pyramid(pyr_copy).complete
    assert not (pyr_copy / (JSON_NAME + ".tmp")).exists()


def test_partial_pyramid_needs_opt_in(tiny_pyramid, tmp_path):
    from dataclasses import replace

    part = replace(tiny_pyramid, stages=tiny_pyramid.stages[:1])
    save_pyramid(part, tmp_path / "part")
    with pytest.raises(PyramidFileError, match="--resume"):
        load_pyramid(tmp_path / "part")
    assert load_pyramid(tmp_path / "part", require_complete=False).num_trained == 1


def test_metadata_edits_are_caught_by_the_checksum_even_when_well_formed(pyr_copy):
    from singan_augment.files.pyramid_files import metadata_sha256

    p = pyr_copy / JSON_NAME
    meta = json.loads(p.read_text())
    meta["noise_amps"][1] *= 2  # plausible, well-formed, silently changes every sample
    p.write_text(json.dumps(meta))
    with pytest.raises(PyramidFileError, match="metadata_sha256"):
        load_pyramid(pyr_copy)
    meta["extra"] = {"note": "free-form notes are not covered"}
    meta["noise_amps"][1] /= 2
    meta["metadata_sha256"] = metadata_sha256(meta)
    p.write_text(json.dumps(meta))
    assert load_pyramid(pyr_copy).complete


def test_clamp_is_recorded_and_files_from_before_it_load_unclamped(tiny_pyramid_dir):
    meta = json.loads((tiny_pyramid_dir / JSON_NAME).read_text())
    assert meta["model_config"]["clamp"] is True  # new pyramids record the clamp
    from singan_augment.files.pyramid_files import model_config_from_meta

    old = {**meta, "model_config": {k: v for k, v in meta["model_config"].items() if k != "clamp"}}
    assert model_config_from_meta(old).clamp is False
    assert model_config_from_meta(meta).clamp is True


@pytest.mark.parametrize(
    "pull, match",
    [
        ("all", None),
        ("reconstruction", r"concurrent_pull = 'reconstruction': a training option retired"),
        ("both", "concurrent_pull.*'both'"),
    ],
)
def test_files_with_the_earlier_concurrent_pull_load_only_as_all(pyr_copy, pull, match):
    """``concurrent_pull`` (2026-12-03) is a retired option like the share that replaced it:
    "all" (today's training) loads with the same config, any other value is refused by name."""
    from singan_augment.files.pyramid_files import metadata_sha256

    p = pyr_copy / JSON_NAME
    meta = json.loads(p.read_text())
    before = load_pyramid(pyr_copy).train_config
    assert "concurrent_adversarial_pull" not in meta["train_config"]  # new files lack it
    meta["train_config"] = {**meta["train_config"], "concurrent_pull": pull}
    meta["metadata_sha256"] = metadata_sha256(meta)
    p.write_text(json.dumps(meta))
    if match is None:
        assert load_pyramid(pyr_copy).train_config == before
    else:
        with pytest.raises(PyramidFileError, match=match):
            load_pyramid(pyr_copy)


@pytest.mark.parametrize(
    "field, value, loads",
    [
        ("concurrent_coarsest_lr", 1.0, True),
        ("concurrent_coarsest_scales", 1, True),
        ("lr_iters_power", 0.0, True),
        ("concurrent_coarsest_lr", 0.3, False),
        ("concurrent_coarsest_scales", 3, False),
        ("lr_iters_power", 0.5, False),
        ("concurrent_adversarial_pull", 1.0, True),
        ("concurrent_adversarial_pull", 0.3, False),
    ],
)
def test_files_that_record_a_retired_option_load_only_at_its_neutral_value(
    pyr_copy, field, value, loads
):
    """Every pyramid.json written before 2026-12-06 records the retired training options
    (``engine.config.RETIRED_TRAIN_FIELDS``); at the value that changed nothing it loads with
    the same config, at any other it is refused by name, with the commit that has it."""
    from singan_augment.engine.config import RETIRED_TRAIN_FIELDS
    from singan_augment.files.pyramid_files import metadata_sha256

    p = pyr_copy / JSON_NAME
    meta = json.loads(p.read_text())
    before = load_pyramid(pyr_copy).train_config
    meta["train_config"] = {**meta["train_config"], field: value}
    meta["metadata_sha256"] = metadata_sha256(meta)
    p.write_text(json.dumps(meta))
    if loads:
        assert load_pyramid(pyr_copy).train_config == before
    else:
        last = RETIRED_TRAIN_FIELDS[field][1]
        with pytest.raises(PyramidFileError, match=f"{field} = {value!r}.*commit {last}"):
            load_pyramid(pyr_copy)


@pytest.mark.parametrize("spacing", [None, (0.5, 0.75)])
def test_spacing_round_trips(tiny_pyramid, tmp_path, spacing):
    from dataclasses import replace

    save_pyramid(replace(tiny_pyramid, spacing=spacing), tmp_path / "p")
    meta = json.loads((tmp_path / "p" / JSON_NAME).read_text())
    assert meta["spacing"] == (None if spacing is None else list(spacing))
    assert load_pyramid(tmp_path / "p").spacing == spacing


@pytest.mark.parametrize("value", [[0.5], [0.5, -1.0], "1mm", True, {"row": 1}, [0, 1]])
def test_malformed_spacing_is_refused(pyr_copy, value):
    from singan_augment.files.pyramid_files import metadata_sha256

    p = pyr_copy / JSON_NAME
    meta = json.loads(p.read_text())
    meta["spacing"] = value
    meta["metadata_sha256"] = metadata_sha256(meta)
    p.write_text(json.dumps(meta))
    with pytest.raises(PyramidFileError, match="spacing"):
        load_pyramid(pyr_copy)


def test_files_from_before_spacing_load_with_it_unknown(pyr_copy):
    from singan_augment.files.pyramid_files import metadata_sha256

    p = pyr_copy / JSON_NAME
    meta = json.loads(p.read_text())
    del meta["spacing"]
    meta["metadata_sha256"] = metadata_sha256(meta)
    p.write_text(json.dumps(meta))
    assert load_pyramid(pyr_copy).spacing is None


def test_volume_pyramid_round_trip_records_its_dimensionality(tiny_volume_pyramid, tmp_path):
    save_pyramid(tiny_volume_pyramid, tmp_path / "v")
    meta = json.loads((tmp_path / "v" / JSON_NAME).read_text())
    assert meta["spatial_dims"] == 3 and meta["shapes"][-1] == [14, 16, 15]
    assert meta["spacing"] == [2.0, 1.0, 1.0]
    back = load_pyramid(tmp_path / "v")
    assert back.spatial_dims == 3 and back.spacing == (2.0, 1.0, 1.0)
    np.testing.assert_array_equal(
        sample(back, 4, 1).images, sample(tiny_volume_pyramid, 4, 1).images
    )


@pytest.mark.parametrize(
    "edit, match",
    [
        ({"spatial_dims": 2}, r"\[H, W\] positive integers"),  # 3-D shapes claimed as 2-D
        ({"spatial_dims": 4}, "must be 2 or 3"),
        ({"spacing": [1.0, 1.0]}, "three positive"),
    ],
)
def test_volume_metadata_that_disagrees_is_refused(tiny_volume_pyramid, tmp_path, edit, match):
    from singan_augment.files.pyramid_files import metadata_sha256

    save_pyramid(tiny_volume_pyramid, tmp_path / "v")
    path = tmp_path / "v" / JSON_NAME
    meta = {**json.loads(path.read_text()), **edit}
    meta["metadata_sha256"] = metadata_sha256(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(PyramidFileError, match=match):
        load_pyramid(tmp_path / "v")


def test_files_from_before_volumes_load_as_2d(pyr_copy):
    from singan_augment.files.pyramid_files import metadata_sha256

    meta = json.loads((pyr_copy / JSON_NAME).read_text())
    assert meta.pop("spatial_dims") == 2
    meta["metadata_sha256"] = metadata_sha256(meta)
    (pyr_copy / JSON_NAME).write_text(json.dumps(meta))
    assert load_pyramid(pyr_copy).spatial_dims == 2


def test_loading_compiles_no_xla_program(tmp_path):
    """Loading puts the stored arrays on the device without compiling anything (jnp.asarray
    compiled a small program per new shape: about 27 per shipped pyramid). The image has a
    shape no other test uses, so its arrays are new to JAX's caches in this process."""
    import jax

    from singan_augment.engine.fit import init_pyramid
    from singan_augment.testing import TINY_MODEL, TINY_PYRAMID

    image = np.random.default_rng(0).random((2, 37, 31), dtype=np.float32)
    pyr = init_pyramid(image, 0, model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID)
    save_pyramid(pyr, tmp_path / "p")
    compiles = []

    def listen(event, duration, **kwargs):
        if event.endswith("backend_compile_duration"):
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        loaded = load_pyramid(tmp_path / "p", require_complete=False)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert compiles == []
    assert [r.shape for r in loaded.reals] == [r.shape for r in pyr.reals]
    for a, b in zip(loaded.reals, pyr.reals):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(loaded.z_opt), np.asarray(pyr.z_opt))
