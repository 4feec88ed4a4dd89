"""The fuzz suites' ledger: every bad input tried goes through ``Ledger.bad`` and every
valid edge case through ``Ledger.good``, so the session can report how many were tried and
how many were handled cleanly (``conftest.pytest_terminal_summary`` prints the counts).

A bad input is *handled cleanly* when it raises the documented error class (a
``SinGANError`` subclass, unless the case names another), with a message that names the
problem, raised from this project's own code (not from deep inside JAX, NumPy or torch), and
within a time limit (no hang).
"""

from __future__ import annotations

import re
import signal
import sys
import traceback
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from singan_augment.errors import SinGANError

_REPO = Path(__file__).resolve().parents[1]
OUR_CODE = tuple(str(_REPO / d) + "/" for d in ("singan_augment", "transforms", "pretrained"))
TIME_LIMIT_S = 120


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def raised_in_our_code(error: BaseException) -> bool:
    """True if the innermost frame of ``error``'s traceback lies in this project's code."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and str(Path(frames[-1].filename).resolve()).startswith(OUR_CODE)


class Ledger:
    def __init__(self) -> None:
        self.tried: Counter[str] = Counter()
        self.clean: Counter[str] = Counter()
        self.valid: Counter[str] = Counter()
        self.notes: list[str] = []

    def note(self, line: str) -> None:
        """A line for the run's summary (e.g. the kill/resume figures)."""
        self.notes.append(line)

    def bad(
        self,
        entry: str,
        fn: Callable[..., Any],
        *args: Any,
        error: type[BaseException] | tuple[type[BaseException], ...] = SinGANError,
        match: str | None = None,
        check_origin: bool = True,
        **kwargs: Any,
    ) -> BaseException:
        """Call ``fn`` on a bad input; fail the test unless it is refused cleanly.

        ``check_origin=False`` is for adapters (the CLI runner) that turn an exit code into
        an exception themselves and check for tracebacks in their own way."""
        self.tried[entry] += 1
        try:
            with time_limit(TIME_LIMIT_S):
                result = fn(*args, **kwargs)
        except Hang as e:
            raise AssertionError(f"{entry}: hang on bad input ({e})") from None
        except error as e:
            msg = str(e)
            assert msg.strip(), f"{entry}: {type(e).__name__} with an empty message"
            if match is not None:
                assert re.search(match, msg, re.IGNORECASE), (
                    f"{entry}: message {msg!r} does not name the problem ({match!r})"
                )
            assert not check_origin or raised_in_our_code(e), (
                f"{entry}: {type(e).__name__} raised outside this project's code:\n"
                + "".join(traceback.format_exception(e))
            )
            self.clean[entry] += 1
            return e
        except BaseException as e:
            raise AssertionError(
                f"{entry}: bad input ended in {type(e).__name__}: {e}, not {error}"
            ) from e
        raise AssertionError(f"{entry}: bad input was accepted and returned {type(result)}")

    def good(self, entry: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` on a valid edge case under the time limit; the caller checks the result."""
        with time_limit(TIME_LIMIT_S):
            out = fn(*args, **kwargs)
        self.valid[entry] += 1
        return out

    def either(
        self,
        entry: str,
        fn: Callable[..., Any],
        *args: Any,
        error: type[BaseException] = SinGANError,
        **kwargs: Any,
    ) -> tuple[bool, Any]:
        """For inputs that may be valid or not: ``(True, result)`` if accepted (counted as a
        valid case, the caller checks the result), ``(False, error)`` if refused cleanly
        (counted as a bad input handled cleanly); anything else fails the test."""
        try:
            with time_limit(TIME_LIMIT_S):
                result = fn(*args, **kwargs)
        except error:
            return False, self.bad(entry, _reraise, sys.exc_info()[1], error=error)
        self.valid[entry] += 1
        return True, result

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {
            "tried": dict(self.tried),
            "clean": dict(self.clean),
            "valid": dict(self.valid),
            "notes": list(self.notes),
        }

    def merge(self, data: dict[str, dict[str, int]]) -> None:
        """Add another process's counts (pytest-xdist workers report theirs to the controller)."""
        self.tried.update(data.get("tried", {}))
        self.clean.update(data.get("clean", {}))
        self.valid.update(data.get("valid", {}))
        self.notes.extend(data.get("notes", []))

    def report(self) -> list[str]:
        if not self.tried and not self.valid:
            return list(self.notes)
        lines = list(self.notes) + [
            f"fuzz: {sum(self.tried.values())} bad inputs tried, "
            f"{sum(self.clean.values())} handled cleanly; "
            f"{sum(self.valid.values())} valid edge cases accepted with checked results"
        ]
        for entry in sorted(set(self.tried) | set(self.valid)):
            lines.append(
                f"  {entry:<28} bad {self.tried[entry]:>5}  clean {self.clean[entry]:>5}  "
                f"valid {self.valid[entry]:>4}"
            )
        return lines


def _reraise(e: BaseException) -> None:
    raise e.with_traceback(e.__traceback__)


LEDGER = Ledger()
