"""Fuzz the command line: bad arguments, odd paths and damaged pyramids.

Each case must exit with code 2 (bad input; argparse's usage errors included) or 1 (an OS
error such as an unwritable --out), print one ``error:`` line naming the problem to stderr,
and never show a traceback.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from singan_augment.cli import main
from singan_augment.errors import SinGANError
from singan_augment.files.pyramid_files import JSON_NAME, WEIGHTS_NAME, metadata_sha256
from singan_augment.testing import tiny_image

FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class CliRefused(SinGANError):
    """Raised by ``run`` when the CLI refused its input cleanly (for the ledger)."""


def run(argv: list[str], capsys) -> None:
    """Run the CLI in-process. Raise ``CliRefused`` (with stderr as the message) on a clean
    refusal; raise AssertionError on success, a traceback, or an unclean exit."""
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    if rc in (1, 2):
        lines = [ln for ln in err.strip().splitlines() if "error:" in ln]
        assert lines, f"exit {rc} without an error line: {err!r}"
        raise CliRefused(lines[-1])
    raise AssertionError(f"{argv} exited {rc}; stderr {err!r}")


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_pyramid_dir):
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "img.npy", tiny_image())
    np.save(d / "img2.npy", tiny_image(channels=1))
    np.save(d / "small.npy", tiny_image(h=10, w=12))
    np.save(d / "nan.npy", np.full((3, 32, 36), np.nan, np.float32))
    np.save(d / "mask.npy", np.zeros((1, 32, 36), np.float32))
    np.save(d / "objects.npy", np.array([object()]), allow_pickle=True)
    (d / "text.png").write_text("not a png")
    (d / "empty.npy").write_bytes(b"")
    bad = d / "bad_pyr"
    shutil.copytree(tiny_pyramid_dir, bad)
    w = bytearray((bad / WEIGHTS_NAME).read_bytes())
    w[-1] ^= 0xFF
    (bad / WEIGHTS_NAME).write_bytes(bytes(w))
    edited = d / "edited_pyr"
    shutil.copytree(tiny_pyramid_dir, edited)
    meta = json.loads((edited / JSON_NAME).read_text())
    meta["nfc"] = [1]  # informational field, consistently re-checksummed: info must not use it
    meta["metadata_sha256"] = metadata_sha256(meta)
    (edited / JSON_NAME).write_text(json.dumps(meta))
    return d


def cases(d, pyr):
    img, out = str(d / "img.npy"), str(d / "out")
    return [
        # train
        (["train"], "required|arguments"),
        (["train", img], "--out"),
        (["train", str(d / "missing.npy"), "--out", out], "no such file"),
        (["train", str(d / "text.png"), "--out", out], "cannot read"),
        (["train", str(d / "empty.npy"), "--out", out], "cannot read"),
        (["train", str(d / "objects.npy"), "--out", out], "cannot read|dtype"),
        (["train", str(d / "nan.npy"), "--out", out], "non-finite"),
        (["train", str(d / "small.npy"), "--out", out], "min_size"),
        (["train", img, str(d / "small.npy"), "--out", out], "differ in size"),
        (["train", img, "--out", out, "--channels", "a,b"], "channel names"),
        (["train", img, "--out", out, "--label-channels", "zz"], "not among"),
        (["train", img, "--out", out, "--iters", "0"], "positive integer"),
        (["train", img, "--out", out, "--iters", "many"], "positive integer"),
        (["train", img, "--out", out, "--max-size", "-3"], "positive integer"),
        (["train", img, "--out", out, "--min-size", "5"], "min_size"),
        (["train", img, "--out", out, "--scale-factor", "1.5"], "scale_factor"),
        (["train", img, "--out", out, "--scale-factor", "nan"], "scale_factor"),
        (["train", img, "--out", out, "--conv-impl", "fastest"], "conv_impl"),
        (["train", img, "--out", out, "--num-layers", "1"], "num_layers"),
        (["train", img, "--out", out, "--concurrent-stages", "0"], "positive integer"),
        (["train", img, "--out", out, "--coarsest-noise", "pink"], "invalid choice"),
        (["train", img, "--out", str(pyr), "--iters", "1"], "--resume"),
        (["train", img, "--out", "/proc/version/x", "--iters", "1", "--quiet"], "."),
        # sample
        (["sample", str(d / "nowhere"), "--out", out], "no such pyramid"),
        (["sample", str(d / "bad_pyr"), "--out", out], "sha256"),
        (["sample", str(d / "img.npy"), "--out", out], "no such pyramid"),
        (["sample", str(pyr), "--out", out, "--n", "0"], "positive integer"),
        (["sample", str(pyr), "--out", out, "--n", "-2"], "positive integer"),
        (["sample", str(pyr), "--out", out, "--batch", "0"], "positive integer"),
        (["sample", str(pyr), "--out", out, "--start-scale", "7"], "out of range"),
        (["sample", str(pyr), "--out", out, "--start-scale", "-9"], "out of range"),
        (["sample", str(pyr), "--out", out, "--size", "0x40"], "size"),
        (["sample", str(pyr), "--out", out, "--size", "40"], "HxW"),
        (["sample", str(pyr), "--out", out, "--size", "1x1"], "too small"),
        (["sample", str(pyr), "--out", out, "--size", "100000x100000"], "too large"),
        (["sample", str(pyr), "--out", out, "--factors", "0x1"], "factors"),
        (["sample", str(pyr), "--out", out, "--factors", "infx1"], "factors"),
        (["sample", str(pyr), "--out", out, "--size", "40x40", "--factors", "1x1"], "not allowed"),
        (["sample", str(pyr), "--out", out, "--format", "pickle"], "invalid choice"),
        (
            ["sample", str(pyr), "--out", str(d / "img.npy"), "--n", "1", "--quiet"],
            "exists|directory",
        ),
        # harmonize
        (
            [
                "harmonize",
                str(pyr),
                "--composite",
                img,
                "--mask",
                str(d / "mask.npy"),
                "--scale",
                "1",
                "--out",
                str(d / "h.npy"),
            ],
            "empty",
        ),
        (
            [
                "harmonize",
                str(pyr),
                "--composite",
                str(d / "img2.npy"),
                "--mask",
                str(d / "mask.npy"),
                "--scale",
                "1",
                "--out",
                str(d / "h.npy"),
            ],
            "channels",
        ),
        (
            [
                "harmonize",
                str(pyr),
                "--composite",
                img,
                "--mask",
                str(d / "small.npy"),
                "--scale",
                "1",
                "--out",
                str(d / "h.npy"),
            ],
            "does not match",
        ),
        (
            [
                "harmonize",
                str(pyr),
                "--composite",
                img,
                "--mask",
                img,
                "--scale",
                "0",
                "--out",
                str(d / "h.npy"),
            ],
            "injection scale",
        ),
        (
            [
                "harmonize",
                str(pyr),
                "--composite",
                img,
                "--mask",
                img,
                "--scale",
                "5",
                "--out",
                str(d / "h.npy"),
            ],
            "out of range",
        ),
        (
            [
                "harmonize",
                str(pyr),
                "--composite",
                img,
                "--mask",
                img,
                "--scale",
                "1",
                "--out",
                str(d / "h.txt"),
            ],
            "unsupported output",
        ),
        (
            [
                "harmonize",
                str(pyr),
                "--composite",
                str(d / "nan.npy"),
                "--mask",
                img,
                "--scale",
                "1",
                "--out",
                str(d / "h.npy"),
            ],
            "non-finite",
        ),
        # info
        (["info", str(d / "nowhere")], "no such|missing"),
        (["info", str(d / "bad_pyr" / WEIGHTS_NAME)], "missing|no such"),
        # dataset commands
        (["expand", str(d / "nowhere"), "--n", "2", "--out", out], "."),
        (["expand", str(pyr), "--n", "0", "--out", out], "."),
        (["fit-dataset", str(d / "nowhere"), "--out", out, "--iters", "1"], "."),
        (["report", str(d / "nowhere"), "--out", str(d / "r.html")], "."),
        ([], "required|command"),
        (["frobnicate"], "invalid choice"),
    ]


def test_every_bad_command_line_is_refused_with_one_error_line(
    ledger, files, tiny_pyramid_dir, capsys
):
    for argv, match in cases(files, tiny_pyramid_dir):
        ledger.bad("cli", run, argv, capsys, error=CliRefused, check_origin=False, match=match)


def test_info_survives_a_damaged_informational_field(ledger, files, capsys):
    ledger.good("cli", main, ["info", str(files / "edited_pyr")])
    assert "scale 2" in capsys.readouterr().out


@FUZZ
@given(
    name=st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s and s not in (".", ".."))
)
def test_unicode_and_odd_names_for_missing_inputs_are_refused(ledger, files, capsys, name):
    ledger.bad(
        "cli",
        run,
        ["info", str(files / "nope" / name)],
        capsys,
        error=CliRefused,
        check_origin=False,
    )
    ledger.bad(
        "cli",
        run,
        ["train", str(files / "nope" / name), "--out", str(files / "o")],
        capsys,
        error=CliRefused,
        check_origin=False,
    )


@FUZZ
@given(text=st.text(max_size=12))
def test_arbitrary_size_strings_are_refused_or_valid(ledger, files, tiny_pyramid_dir, capsys, text):
    argv = [
        "sample",
        str(tiny_pyramid_dir),
        "--out",
        str(files / "s"),
        "--n",
        "1",
        "--quiet",
        "--size",
        text,
    ]
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        valid = 3 <= h <= 4096 and 3 <= w <= 4096
    except ValueError:
        valid = False
    if not valid or text.startswith("-"):
        ledger.bad("cli", run, argv, capsys, error=CliRefused, check_origin=False)
