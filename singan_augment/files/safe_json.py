"""Bounded JSON reading for files that other people made (pyramid metadata, datalists).

Limits the file size, the nesting depth and integer length; refuses duplicate keys (which
parsers resolve differently) and the non-standard constants NaN/Infinity.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from singan_augment.errors import SinGANError


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"duplicate keys {dup}")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise ValueError(f"integer with {len(text)} digits")
    return int(text)


def depth(obj: Any, limit: int, level: int = 0) -> int:
    """Nesting depth of a parsed JSON value (stops counting past ``limit``)."""
    if level > limit:
        return level
    if isinstance(obj, dict):
        return max([depth(v, limit, level + 1) for v in obj.values()], default=level + 1)
    if isinstance(obj, list):
        return max([depth(v, limit, level + 1) for v in obj], default=level + 1)
    return level


def read_json(
    path: str | Path, *, max_bytes: int, max_depth: int, raises: type[SinGANError]
) -> Any:
    """Parse a JSON file within limits.

    Raises:
        ``raises`` (a SinGANError subclass): unreadable, too large, not UTF-8, invalid JSON,
        duplicate keys, NaN/Infinity, over-long integers, or nesting deeper than ``max_depth``.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise raises(f"{p}: {size} bytes is over the {max_bytes}-byte limit for this file")
        text = p.read_bytes().decode("utf-8")
    except OSError as e:
        raise raises(f"{p}: cannot read ({e})") from None
    except UnicodeDecodeError as e:
        raise raises(f"{p}: not valid JSON (not UTF-8: {e})") from None
    try:
        data = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_int=_bounded_int,
        )
    except (json.JSONDecodeError, RecursionError, ValueError) as e:
        raise raises(f"{p}: not valid JSON ({e})") from None
    if depth(data, max_depth) > max_depth:
        raise raises(f"{p}: JSON nested deeper than {max_depth} levels")
    return data
