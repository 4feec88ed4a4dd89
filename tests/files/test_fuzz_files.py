"""Fuzz the pyramid loader and the pretrained registry with corrupt, tampered and hostile files.

Every case must end in ``PyramidFileError`` with a message naming the problem, never in a
crash inside safetensors/json/JAX, and never by executing or unpickling anything. Loading
must not modify the directory (apart from the documented roll-forward of an interrupted save).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from singan_augment import pretrained
from singan_augment.errors import PyramidFileError
from singan_augment.files.pyramid_files import (
    JSON_NAME,
    WEIGHTS_NAME,
    load_pyramid,
    metadata_sha256,
    read_metadata,
)

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Files(dict):
    """The tiny pyramid's two files (bytes), with a short repr for hypothesis' reports."""

    def __repr__(self) -> str:
        return f"Files(json={len(self['json'])} B, weights={len(self['weights'])} B)"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


@pytest.fixture(scope="module")
def original(tiny_pyramid_dir):
    return Files(
        json=(tiny_pyramid_dir / JSON_NAME).read_bytes(),
        weights=(tiny_pyramid_dir / WEIGHTS_NAME).read_bytes(),
    )


def write(dst: Path, json_bytes: bytes, weights: bytes) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    (dst / JSON_NAME).write_bytes(json_bytes)
    (dst / WEIGHTS_NAME).write_bytes(weights)
    return dst


def snapshot(d: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.iterdir())
        if p.is_file()
    }


def refused(ledger, d: Path, match: str | None = None) -> None:
    before = snapshot(d)
    ledger.bad("files.load_pyramid", load_pyramid, d, match=match, error=PyramidFileError)
    assert snapshot(d) == before, "a refused load modified the directory"


@FUZZ
@given(data=st.data())
def test_flipped_bytes_in_the_weights_are_refused(ledger, original, tmp_path_factory, data):
    w = bytearray(original["weights"])
    where = data.draw(st.lists(st.integers(0, len(w) - 1), min_size=1, max_size=4, unique=True))
    for i in where:
        w[i] ^= data.draw(st.integers(1, 255))
    d = write(tmp_path_factory.mktemp("w"), original["json"], bytes(w))
    refused(ledger, d, "sha256")


@FUZZ
@given(data=st.data())
def test_truncated_or_extended_files_are_refused(ledger, original, tmp_path_factory, data):
    which = data.draw(st.sampled_from(["json", "weights"]))
    blob = original[which]
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:
        extra = data.draw(st.binary(min_size=1, max_size=64))
        blob = blob + extra
        if which == "json" and not extra.strip(b" \t\n\r"):
            # JSON allows trailing whitespace: the same metadata, which must load as before
            d = write(tmp_path_factory.mktemp("t"), blob, original["weights"])
            pyr = ledger.good("files.load_pyramid", load_pyramid, d)
            assert pyr.complete
            return
    files = {**original, which: blob}
    d = write(tmp_path_factory.mktemp("t"), files["json"], files["weights"])
    refused(ledger, d)


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))
    yield prefix


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@FUZZ
@given(data=st.data())
def test_edited_metadata_is_refused_or_loads_identically(ledger, original, tmp_path_factory, data):
    """Replace or delete one field anywhere in pyramid.json. The load must refuse with
    PyramidFileError, unless the edit is in the free-form ``extra`` notes."""
    meta = json.loads(original["json"])
    paths = [p for p in _paths(meta) if p]
    path = data.draw(st.sampled_from(paths))
    parent = meta
    for k in path[:-1]:
        parent = parent[k]
    old = parent[path[-1]]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        new = data.draw(json_values)
        assume(new != old or type(new) is not type(old))
        parent[path[-1]] = new
    text = json.dumps(meta, allow_nan=True).encode()
    d = write(tmp_path_factory.mktemp("m"), text, original["weights"])
    # Only the free-form notes are outside the metadata checksum; any other edit is refused.
    harmless = path[0] == "extra"
    if harmless:
        try:
            pyr = ledger.good("files.load_pyramid", load_pyramid, d)
        except PyramidFileError:
            return  # refusing a damaged optional field is also acceptable
        assert pyr.num_trained == 3
    else:
        refused(ledger, d)


@FUZZ
@given(blob=st.binary(max_size=512))
def test_random_bytes_as_either_file_are_refused(ledger, original, tmp_path_factory, blob):
    d = write(tmp_path_factory.mktemp("r"), blob, original["weights"])
    refused(ledger, d)
    d = write(tmp_path_factory.mktemp("r"), original["json"], blob)
    refused(ledger, d, "sha256")


def test_hostile_json_is_refused_cheaply(ledger, original, tmp_path):
    cases = {
        "deep": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "wide": b"[" + b"0," * 600_000 + b"0]",
        "nan": original["json"].replace(b'"num_trained": 3', b'"num_trained": NaN'),
        "dup": original["json"].replace(b"{", b'{"num_trained": 99, ', 1),
        "bom": b"\xef\xbb\xbf" + original["json"],
        "utf16": original["json"].decode().encode("utf-16"),
        "null": b"null",
        "huge-int": original["json"].replace(b'"num_trained": 3', b'"num_trained": ' + b"9" * 5000),
    }
    for name, text in cases.items():
        d = write(tmp_path / name, text, original["weights"])
        refused(ledger, d)


def test_pickles_and_other_formats_are_never_loaded(ledger, original, tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (Path("/nonexistent/evidence").mkdir, ())

    evil = pickle.dumps(Boom())
    d = write(tmp_path / "pkl", original["json"], evil)  # a pickle in place of the weights
    refused(ledger, d, "sha256")
    meta = json.loads(original["json"])
    meta["weights_sha256"] = hashlib.sha256(evil).hexdigest()  # even with matching hashes
    meta["metadata_sha256"] = metadata_sha256(meta)
    d = write(tmp_path / "pkl2", json.dumps(meta).encode(), evil)
    refused(ledger, d, "safetensors")
    # Extra files (pickles, a second weights file, a symlink out) are ignored: the load uses
    # exactly the two named files.
    d = write(tmp_path / "extra", original["json"], original["weights"])
    (d / "model.pkl").write_bytes(evil)
    (d / "weights.safetensors.bak").write_bytes(b"junk")
    (d / "link").symlink_to("/etc")
    pyr = ledger.good("files.load_pyramid", load_pyramid, d)
    assert pyr.num_trained == 3


def test_weights_that_are_a_directory_or_a_symlink_loop_are_refused(ledger, original, tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    (d / JSON_NAME).write_bytes(original["json"])
    (d / WEIGHTS_NAME).mkdir()
    refused(ledger, d, "missing")
    d2 = tmp_path / "loop"
    d2.mkdir()
    (d2 / JSON_NAME).write_bytes(original["json"])
    (d2 / WEIGHTS_NAME).symlink_to(d2 / WEIGHTS_NAME)
    ledger.bad("files.load_pyramid", load_pyramid, d2, error=PyramidFileError)


@FUZZ
@given(
    path=st.one_of(
        st.text(min_size=1, max_size=20),
        st.sampled_from(["", "\x00", "a\x00b", "/", "~", "é/ü", "..", "/dev/null", "/proc/self"]),
    )
)
def test_odd_paths_are_refused_cleanly(ledger, path):
    assume(not Path(path.replace("\x00", "")).joinpath(JSON_NAME).exists())
    ledger.bad("files.load_pyramid", load_pyramid, path, error=PyramidFileError)
    ledger.bad("files.read_metadata", read_metadata, path, error=PyramidFileError)


@FUZZ
@given(
    name=st.one_of(
        st.text(max_size=30),
        st.sampled_from(
            [
                "../pretrained",
                "..",
                ".",
                "/etc/passwd",
                "brain_t1_t2_flair/..",
                "BRAIN_T1_T2_FLAIR",
                "brain_t1_t2_flair/../histology_he_nuclei",
                "~root",
                "%2e%2e",
                "brain\x00",
                "a" * 65,
            ]
        ),
        st.integers(),
        st.none(),
    )
)
def test_pretrained_names_cannot_escape_the_registry(ledger, name):
    assume(name not in pretrained.names())
    ledger.bad(
        "files.pretrained",
        pretrained.path,
        name,
        error=PyramidFileError,
        match="pretrained pyramid",
    )


def test_pretrained_pyramids_are_hash_checked(ledger, tmp_path, monkeypatch):
    name = pretrained.names()[0]
    copy = tmp_path / name
    shutil.copytree(pretrained.path(name), copy)
    w = bytearray((copy / WEIGHTS_NAME).read_bytes())
    w[len(w) // 2] ^= 1
    (copy / WEIGHTS_NAME).write_bytes(bytes(w))
    monkeypatch.setattr(pretrained, "ROOT", tmp_path)
    ledger.bad("files.pretrained", pretrained.load, name, error=PyramidFileError, match="sha256")


@FUZZ
@given(
    rel=st.one_of(
        st.text(max_size=30),
        st.lists(st.sampled_from(["..", ".", "a", "b", "~", "", "/", "..."]), max_size=6).map(
            "/".join
        ),
        st.sampled_from(
            ["../x", "a/../../x", "/etc/passwd", "~/x", "a/./../..", "link/x", None, 3]
        ),
    )
)
def test_datalist_paths_never_escape_their_folder(ledger, tmp_path_factory, rel):
    from singan_augment.errors import InputError
    from singan_augment.expansion.sources import resolve_inside

    base = tmp_path_factory.getbasetemp() / "datalist_root"
    (base / "a").mkdir(parents=True, exist_ok=True)
    if not (base / "link").exists():
        (base / "link").symlink_to("/tmp")  # a symlink pointing out of the folder
    root = base.resolve()
    accepted, p = ledger.either(
        "files.datalist_path", resolve_inside, base, rel, "entry", error=InputError
    )
    if not accepted:
        return
    assert p == root or root in p.parents, f"{rel!r} escaped to {p}"


@FUZZ
@given(text=st.text(max_size=40))
def test_output_names_are_always_safe(text):
    import re

    from singan_augment.expansion.sources import safe_name

    name = safe_name(text)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name)
    assert name not in (".", "..") and not name.startswith(".")
