"""safe_json.read_json: round trips of valid JSON, and refusal of hostile files."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from singan_augment.errors import InputError
from singan_augment.files.safe_json import read_json

LIMITS = dict(max_bytes=1 << 16, max_depth=8, raises=InputError)
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**18), 10**18)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=values)
def test_valid_json_round_trips(tmp_path, value):
    p = tmp_path / "v.json"
    p.write_text(json.dumps(value))
    assert read_json(p, **LIMITS) == value


@pytest.mark.parametrize(
    "text,match",
    [
        ('{"a": 1, "a": 2}', "duplicate"),
        ('{"a": NaN}', "NaN"),
        ("[Infinity]", "Infinity"),
        ("[" + "1" * 30 + "]", "digits"),
        ("[" * 9 + "]" * 9, "deeper"),
        ("[" * 100_000 + "]" * 100_000, "limit|deeper|JSON"),
        ("{", "not valid JSON"),
        (" " * (1 << 16) + "{}", "limit"),
    ],
)
def test_hostile_json_is_refused(ledger, tmp_path, text, match):
    p = tmp_path / "h.json"
    p.write_text(text)
    ledger.bad("files.json", read_json, p, **LIMITS, match=match)


def test_unreadable_and_non_utf8_files_are_refused(ledger, tmp_path):
    ledger.bad("files.json", read_json, tmp_path / "missing.json", **LIMITS, match="cannot read")
    (tmp_path / "b.json").write_bytes(b'{"a": "\xff"}')
    ledger.bad("files.json", read_json, tmp_path / "b.json", **LIMITS, match="UTF-8")
