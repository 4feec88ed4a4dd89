"""A pytest plugin that says where the test suite's time goes: per test, wall and CPU seconds,
child-process CPU seconds, and the XLA compile seconds and compile count; per jitted function,
the compile seconds and count.

    PYTHONPATH=scripts python -m pytest -p pytest_compile_profile
    python scripts/pytest_compile_profile.py report [DIR]

Each process (the controller or a pytest-xdist worker) writes ``compile_profile_<worker>.json``
to ``$COMPILE_PROFILE_DIR`` (default ``compile-profile/``); ``report`` merges them and prints
the heaviest tests and functions. Compile seconds come from JAX's
``/jax/core/compile/backend_compile_duration`` events, so tests that run the package in a
subprocess show their cost as child CPU, not as compiles.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_totals = {"compile": 0.0, "n": 0}
_functions: dict[str, list[float]] = {}
_rows: list[dict] = []
_listening = [False]


def _on_event(event: str, duration: float, **kw) -> None:
    if event == _COMPILE_EVENT:
        _totals["compile"] += duration
        _totals["n"] += 1
        entry = _functions.setdefault(kw.get("fun_name", "?"), [0, 0.0])
        entry[0] += 1
        entry[1] += duration


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not _listening[0]:
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(_on_event)
        _listening[0] = True
    before = dict(_totals)
    wall, cpu, child = time.perf_counter(), time.process_time(), _children_cpu()
    yield
    _rows.append(
        {
            "test": item.nodeid,
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
            "child_cpu": _children_cpu() - child,
            "compile": _totals["compile"] - before["compile"],
            "compiles": _totals["n"] - before["n"],
        }
    )


def pytest_sessionfinish(session):
    out = Path(os.environ.get("COMPILE_PROFILE_DIR", "compile-profile"))
    out.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (out / f"compile_profile_{worker}.json").write_text(
        json.dumps({"tests": _rows, "functions": _functions})
    )


def report(folder: Path, top: int = 30) -> None:
    rows, seconds, counts = [], Counter(), Counter()
    for path in sorted(folder.glob("compile_profile_*.json")):
        data = json.loads(path.read_text())
        rows += data["tests"]
        for name, (n, s) in data["functions"].items():
            seconds[name] += s
            counts[name] += n
    if not rows:
        raise SystemExit(f"no compile_profile_*.json in {folder}")
    total = {k: sum(r[k] for r in rows) for k in ("wall", "cpu", "child_cpu", "compile")}
    print(
        f"{len(rows)} tests: wall {total['wall']:.0f} s (summed over workers), CPU "
        f"{total['cpu']:.0f} s in-process + {total['child_cpu']:.0f} s in children, of which "
        f"XLA compile {total['compile']:.0f} s"
    )
    print(f"\n{'CPU+child s':>11} {'compile s':>9} {'n':>5}  test")
    for r in sorted(rows, key=lambda r: -(r["cpu"] + r["child_cpu"]))[:top]:
        cost = r["cpu"] + r["child_cpu"]
        print(f"{cost:11.1f} {r['compile']:9.1f} {r['compiles']:5d}  {r['test']}")
    print(f"\n{'compile s':>9} {'n':>5}  jitted function")
    for name, s in seconds.most_common(top // 2):
        print(f"{s:9.1f} {counts[name]:5d}  {name}")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "report":
        raise SystemExit(__doc__)
    report(Path(sys.argv[2] if len(sys.argv) > 2 else "compile-profile"))
