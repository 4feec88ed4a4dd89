"""Executors for dataset expansion: run units of work in this process or as Ray tasks,
and summarise a run (one row per pyramid)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from singan_augment.errors import InputError


@dataclass
class Row:
    """One line of a run summary."""

    name: str
    status: str  # done / skipped / failed
    seconds: float = 0.0
    detail: str = ""


@dataclass
class RunReport:
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def table(self, title: str) -> str:
        w = max([len(r.name) for r in self.rows] + [8])
        lines = [title, f"{'name':<{w}}  {'status':<7}  {'time s':>8}  detail"]
        for r in self.rows:
            lines.append(f"{r.name:<{w}}  {r.status:<7}  {r.seconds:>8.1f}  {r.detail}")
        lines.append(
            f"done {self.count('done')}, skipped {self.count('skipped')}, "
            f"failed {self.count('failed')}; total {self.seconds:.1f} s"
        )
        return "\n".join(lines)


class RayExecutor:
    """Runs units of work as Ray tasks (connecting to ``address`` or starting a local Ray)."""

    def __init__(self, address: str | None = None, max_retries: int = 2):
        try:
            import ray
        except ImportError:
            raise InputError(
                "--executor ray needs Ray: pip install 'singan-augment[ray]'"
            ) from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            ray.init(address=address, **kw) if address else ray.init(**kw)
            self.started = True
        self.max_retries = max_retries
        self.num_gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0

    def run(self, fn: Callable, jobs: list[Any], on_result: Callable[[int, Any, str | None], None]):
        ray = self.ray
        remote = ray.remote(
            max_retries=self.max_retries, retry_exceptions=True, num_gpus=self.num_gpus
        )(fn)
        refs = {remote.remote(job): i for i, job in enumerate(jobs)}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    on_result(refs[ref], ray.get(ref), None)
                except Exception as e:  # noqa: BLE001 - a task's failure is reported, not raised
                    on_result(
                        refs[ref], None, f"{type(e).__name__}: {str(e).splitlines()[-1][:200]}"
                    )

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def run_local(fn: Callable, jobs: list[Any], on_result, **kw) -> None:
    """Run ``fn(job, **kw)`` for every job in this process; a failing job is reported through
    ``on_result(i, None, why)`` and does not stop the others."""
    for i, job in enumerate(jobs):
        try:
            res = fn(job, **kw)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - one bad unit must not stop the others
            on_result(i, None, f"{type(e).__name__}: {e}")
        else:
            on_result(i, res, None)


def run_jobs(
    executor: str,
    jobs: list[Any],
    on_result,
    *,
    local: Callable,
    remote: Callable,
    ray_address: str | None = None,
    max_retries: int = 0,
) -> None:
    """Run every job on ``executor``: ``"ray"`` sends ``remote(job)`` to a Ray cluster (shut
    down afterwards, also on Ctrl-C), anything else runs ``local(job)`` in this process.
    Results arrive through ``on_result(i, result, error)`` either way."""
    if executor == "ray":
        ex = RayExecutor(ray_address, max_retries)
        try:
            ex.run(remote, jobs, on_result)
        finally:
            ex.close()
    else:
        run_local(local, jobs, on_result)
