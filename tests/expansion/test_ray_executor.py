"""fit-dataset with the Ray executor on a real local Ray instance: same files as the local
executor; a task whose worker process dies once is retried and ends complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

try:
    import ray
except ImportError:  # pragma: no cover - depends on the install
    pytest.skip("ray is not installed (pip install 'singan-augment[ray]')", allow_module_level=True)

from singan_augment.engine.config import PyramidConfig, TrainConfig
from singan_augment.testing import TINY_MODEL, tiny_image
from singan_augment.testing.subprocesses import cache_env_vars

KW = dict(
    model_config=TINY_MODEL,
    train_config=TrainConfig(iters=4),
    pyramid_config=PyramidConfig(max_size=27),
    progress=False,
)


@pytest.fixture(scope="module")
def ray_local():
    started = not ray.is_initialized()
    if started:  # the workers (not this process) share a persistent compilation cache
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": cache_env_vars()},
        )
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("images")
    np.save(d / "one.npy", tiny_image(1, 25, 27, seed=10))
    np.save(d / "two.npy", tiny_image(1, 25, 27, seed=11))
    return d


@pytest.fixture(scope="module")
def local_out(images, tmp_path_factory) -> Path:
    from singan_augment.expansion.fit_dataset import fit_dataset

    out = tmp_path_factory.mktemp("local")
    assert fit_dataset(images, out, seed=7, **KW).ok
    return out


def _same_pyramids(a: Path, b: Path) -> None:
    from singan_augment.files.pyramid_files import load_pyramid, pyramid_tensors

    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) == ["one", "two"]
    for name in names:
        pa, pb = load_pyramid(a / name), load_pyramid(b / name)
        assert pa.complete and pb.complete
        ta, tb = pyramid_tensors(pa), pyramid_tensors(pb)
        assert ta.keys() == tb.keys()
        for k in ta:
            np.testing.assert_array_equal(ta[k], tb[k], err_msg=f"{name}: {k}")


def test_ray_executor_matches_local(ray_local, images, local_out, tmp_path):
    from singan_augment.expansion.fit_dataset import fit_dataset

    out = tmp_path / "ray"
    report = fit_dataset(images, out, seed=7, executor="ray", **KW)
    assert report.ok, report.table("ray")
    assert [r.status for r in report.rows] == ["done", "done"]
    _same_pyramids(local_out, out)
    again = fit_dataset(images, out, seed=7, executor="ray", **KW)
    assert [r.status for r in again.rows] == ["skipped", "skipped"]


def test_crashed_task_is_retried_and_completes(ray_local, images, local_out, tmp_path, monkeypatch):
    from singan_augment.expansion.fit_dataset import CRASH_ENV, fit_dataset

    marker = tmp_path / "crashed-once"
    monkeypatch.setenv(CRASH_ENV, str(marker))
    out = tmp_path / "ray"
    report = fit_dataset(images, out, seed=7, executor="ray", max_retries=2, **KW)
    assert marker.exists(), "the injected crash did not happen"
    assert "crashed after scale 0" in marker.read_text()
    assert report.ok, report.table("ray")
    _same_pyramids(local_out, out)  # resumed from the crashed worker's checkpoint, same result


def test_crash_without_retries_is_reported_failed_and_partial(
    ray_local, images, tmp_path, monkeypatch
):
    from singan_augment.expansion.fit_dataset import CRASH_ENV, fit_dataset
    from singan_augment.files.pyramid_files import read_metadata

    monkeypatch.setenv(CRASH_ENV, str(tmp_path / "marker"))
    out = tmp_path / "ray"
    report = fit_dataset(images, out, seed=7, executor="ray", max_retries=0, **KW)
    assert [r.status for r in report.rows] == ["failed", "failed"]
    assert all(read_metadata(out / n)["complete"] is False for n in ("one", "two"))


def test_ray_expand_matches_local(ray_local, local_out, tmp_path):
    from singan_augment.expansion.expand import expand

    a, b = tmp_path / "local", tmp_path / "ray"
    assert expand(local_out, a, 2, fmt="npy", seed=4, progress=False).ok
    rep = expand(local_out, b, 2, fmt="npy", seed=4, executor="ray", progress=False)
    assert rep.ok and [r.status for r in rep.rows] == ["done", "done"]
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
