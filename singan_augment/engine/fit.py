"""Fit pyramids: the scale-by-scale training loop, with checkpoint callbacks and resume.

``fit`` trains one image; ``fit_many`` trains K same-sized images at once with the vmapped
iteration (one pyramid each). Both share one code path, so a pyramid trained alone or in a
batch under the same seed follows the same computation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from singan_augment.errors import InputError, PyramidMismatchError

from .channels import ChannelSpec, check_image
from .config import ModelConfig, PyramidConfig, TrainConfig
from .conv import IMPLS_3D
from .generate import Stage, noise_per_key, random_key, reconstruction, synthesize
from .networks import init_discriminator, init_generator
from .pyramid import Pyramid
from .resolution import finest_spacing
from .scales import build_pyramid, format_shape, pyramid_shapes, resize
from .schedules import check_warm_start_schedule, with_schedule
from .train import init_state, make_iteration, run_iterations, scale_consts

ScaleCallback = Callable[[list[Pyramid], int, list[dict[str, float]]], None]


def image_sha256(image: np.ndarray) -> str:
    """sha256 of a (C, H, W) image's float32 bytes (with its shape), for provenance checks."""
    arr = np.ascontiguousarray(np.asarray(image, np.float32))
    h = hashlib.sha256(repr(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _stack(trees: Sequence[Any]) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _unstack(tree: Any, k: int) -> Any:
    return jax.tree.map(lambda x: x[k], tree)


def init_pyramid(
    image: np.ndarray,
    seed: int,
    *,
    channel_names: Sequence[str] | None = None,
    label_channels: Sequence[str] = (),
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    pyramid_config: PyramidConfig = PyramidConfig(),
    provenance: dict[str, Any] | None = None,
    spacing: Any = None,
) -> Pyramid:
    """An untrained pyramid: scale shapes, normalised reals and the fixed reconstruction noise.

    ``image`` is (C, H, W), or (C, D, H, W) for a volume pyramid. ``spacing``: (row, col)
    pixel spacing of ``image`` ((slice, row, col) for a volume; or one number), None if
    unknown; the pyramid records that of its finest scale.

    Raises:
        InputError: bad image (rank, NaN/Inf, too small), bad channel names or spacing.
    """
    image = check_image(image, spatial_dims=(2, 3))
    if 0 < train_config.crop <= 2 * model_config.pad:
        raise InputError(
            f"TrainConfig.crop must be 0 or more than the critic's border 2 * pad = "
            f"{2 * model_config.pad} pixels, got {train_config.crop}"
        )
    if image.ndim == 4 and model_config.conv_impl not in ("auto", *IMPLS_3D):
        raise InputError(
            f"ModelConfig.conv_impl {model_config.conv_impl!r} has no 3-D form; a volume "
            f"pyramid takes one of {('auto', *IMPLS_3D)}"
        )
    spec = ChannelSpec.from_image(
        image, list(channel_names) if channel_names else None, tuple(label_channels)
    )
    shapes = pyramid_shapes(image.shape[1:], pyramid_config)
    hwc = jnp.asarray(np.moveaxis(spec.normalise(image), 0, -1))
    reals = tuple(build_pyramid(hwc, shapes, model_config.clamp))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InputError(f"seed must be an int (it is recorded in the provenance), got {seed!r}")
    key = random_key(seed)
    shared = train_config.coarsest_noise == "shared"
    z_opt = noise_per_key(  # = draw_noise(k, 1, ...), without a compile per shape
        jax.random.fold_in(key, 0)[None], shape=shapes[0], channels=image.shape[0], shared=shared
    )
    prov = {"sha256": image_sha256(image), "shape": list(image.shape), "seed": int(seed)}
    prov.update(provenance or {})
    return Pyramid(
        tuple(shapes), (), z_opt, reals, spec, model_config, train_config, pyramid_config, prov,
        spacing=finest_spacing(spacing, image.shape[1:], shapes[-1]),
    )  # fmt: skip


def scale_initial_weights(pyr: Pyramid, scale: int, key: jax.Array, warm: Pyramid | None = None):
    """((G params, G BN state), D params) that training ``scale`` of ``pyr`` starts from: the
    sibling's G with ``warm``; else scale - 1's G and D when the width is unchanged (the
    published rule); else a fresh initialisation from ``key``."""
    mcfg = pyr.model_config
    c, nd = pyr.num_channels, pyr.spatial_dims
    width = mcfg.nfc(scale)
    if (
        warm is not None
    ):  # G from the sibling's scale; D as below (its D is kept for the finest only)
        g = (warm.stages[scale].params, warm.stages[scale].stats)
        if scale == warm.num_scales - 1 and warm.discriminator is not None:
            return g, warm.discriminator
        if scale > 0 and mcfg.nfc(scale - 1) == width and pyr.discriminator is not None:
            return g, pyr.discriminator
        return g, init_discriminator(jax.random.split(key)[1], c, width, mcfg, nd)[0]
    if scale > 0 and mcfg.nfc(scale - 1) == width and pyr.discriminator is not None:
        prev = pyr.stages[scale - 1]
        return (prev.params, prev.stats), pyr.discriminator
    kg, kd = jax.random.split(key)
    g = init_generator(kg, c, width, mcfg, nd)
    d_params, _ = init_discriminator(kd, c, width, mcfg, nd)
    return g, d_params


def reconstruction_rmse(pyr: Pyramid) -> list[float]:
    """RMSE (in the normalised [-1, 1] range) of the reconstruction at each trained scale."""
    out = []
    for n in range(pyr.num_trained):
        rec = reconstruction(pyr.stages[: n + 1], pyr.shapes, pyr.z_opt, pyr.model_config)
        out.append(float(jnp.sqrt(jnp.mean(jnp.square(rec[0] - pyr.reals[n])))))
    return out


COARSEST_DIVERSITY_SAMPLES = 50
# the PRNG stream of the coarsest-diversity samples: fold_in(seed key, this); training
# uses 0 (z_opt) and 1..num_scales (one per scale), so the measurement draws none of them
_DIVERSITY_STREAM = 2**31 - 1


def coarsest_diversity(
    pyr: Pyramid, n: int = COARSEST_DIVERSITY_SAMPLES, *, key: jax.Array | None = None
) -> float:
    """How much the trained coarsest generator alone varies: SinGAN's diversity (unitless;
    the same number as ``metrics.diversity``: the per-pixel std over samples, averaged, over
    the real's per-channel std, averaged) of ``n`` fresh-noise samples of scale 0 against the
    coarsest real. High for a texture (the 128-px H&E tile: 0.57), low for an image with a
    layout (the 128-px brain slice: 0.22). Deterministic: the noise comes from the pyramid's
    seed, on a stream that training never draws from (``key`` overrides it).

    Raises:
        InputError: the coarsest scale is not trained yet.
    """
    if pyr.num_trained < 1:
        raise InputError("coarsest_diversity needs a pyramid whose coarsest scale is trained")
    if key is None:
        seed = int(pyr.provenance.get("seed", 0))
        key = jax.random.fold_in(random_key(seed), _DIVERSITY_STREAM)
    x = synthesize(
        pyr.stages[:1], pyr.shapes[:1], jax.random.split(key, n), None, pyr.model_config,
        channels=pyr.num_channels, shared_coarsest=pyr.train_config.coarsest_noise == "shared",
    )  # fmt: skip
    real = jnp.asarray(pyr.reals[0], jnp.float32)  # (*shape, C)
    spatial = tuple(range(real.ndim - 1))
    return float(jnp.std(x, axis=0).mean() / (jnp.std(real, axis=spatial).mean() + 1e-12))


def with_coarsest_diversity(pyr: Pyramid) -> Pyramid:
    """``pyr`` with ``provenance["coarsest_diversity"]`` recorded, when its train config asks
    for it (``concurrent_freeze_diversity`` > 0), its coarsest scale is trained and the value
    is not recorded yet (or is not a finite number); else ``pyr`` itself."""
    d = pyr.provenance.get("coarsest_diversity")
    recorded = isinstance(d, int | float) and not isinstance(d, bool) and np.isfinite(d)
    if pyr.train_config.concurrent_freeze_diversity <= 0.0 or pyr.num_trained < 1 or recorded:
        return pyr
    return replace(
        pyr, provenance={**pyr.provenance, "coarsest_diversity": coarsest_diversity(pyr)}
    )


def scale_train_config(pyr: Pyramid) -> TrainConfig:
    """The ``TrainConfig`` that ``pyr``'s next scale trains with: its own, with the rule
    resolved once the coarsest scale is trained: if ``concurrent_freeze_diversity`` d* > 0,
    ``concurrent_frozen_scales`` becomes at least 1 when the recorded coarsest diversity
    exceeds d*, and d* becomes 0 (the fixed schedule it chose)."""
    tcfg = pyr.train_config
    d = with_coarsest_diversity(pyr).provenance.get("coarsest_diversity")
    if tcfg.concurrent_freeze_diversity <= 0.0 or d is None:
        return tcfg
    frozen = 1 if d > tcfg.concurrent_freeze_diversity else 0
    # resolved: the step is then the fixed schedule's own (one compile for both)
    return replace(
        tcfg,
        concurrent_frozen_scales=max(tcfg.concurrent_frozen_scales, frozen),
        concurrent_freeze_diversity=0.0,
    )


def warm_start_record(warm: Pyramid) -> dict[str, Any]:
    """What a pyramid's provenance records about the sibling it was warm-started from."""
    return {
        "sha256": warm.provenance.get("sha256"),
        "seed": warm.provenance.get("seed"),
        "source": warm.provenance.get("source"),
    }


def check_warm_start(warm: Pyramid, pyr: Pyramid) -> None:
    """A warm start copies the sibling's generator at every scale, so the pyramids must agree
    in scale count, channel count and architecture (spatial sizes may differ).

    Raises:
        PyramidMismatchError: naming the first difference.
    """
    if not warm.complete:
        raise PyramidMismatchError(
            f"warm start needs a complete pyramid; this one is trained to scale "
            f"{warm.num_trained - 1} of {warm.num_scales - 1}"
        )
    diffs = [
        ("scales", warm.num_scales, pyr.num_scales),
        ("channels", warm.num_channels, pyr.num_channels),
        ("model_config", warm.model_config, pyr.model_config),
    ]
    for what, a, b in diffs:
        if a != b:
            raise PyramidMismatchError(
                f"warm start: the sibling pyramid's {what} ({a}) differ from this image's ({b}); "
                "warm-start from a pyramid of a same-sized image with the same channels and model"
            )


def fit_many(
    pyramids: Sequence[Pyramid],
    *,
    stop_scale: int | None = None,
    on_scale_done: ScaleCallback | None = None,
    progress: bool = True,
    warm_start: Pyramid | None = None,
) -> list[Pyramid]:
    """Train K pyramids of identical shapes together, from their first untrained scale.

    Each pyramid's randomness comes from its own ``provenance["seed"]``. ``stop_scale`` ends
    training after that scale (default: the finest). ``on_scale_done(pyramids, scale,
    summaries)`` runs after every scale (use it to checkpoint). ``warm_start``: a complete
    pyramid of a sibling image (same modality, scale count and model) whose generators
    initialise every scale instead of the published initialisation; pair it with a shorter
    schedule to fine-tune.

    Raises:
        InputError: if the pyramids differ in shapes, channel count, configs or progress,
            or their schedule only fine-tunes (``finetune``) and ``warm_start`` is None;
        PyramidMismatchError: a warm-start pyramid that does not fit.
    """
    pyrs = list(pyramids)
    if not pyrs:
        raise InputError("fit_many needs at least one pyramid")
    first = pyrs[0]
    check_warm_start_schedule(first.train_config, warm_start)
    if warm_start is not None:
        check_warm_start(warm_start, first)
    for p in pyrs[1:]:
        if p.shapes != first.shapes or p.num_channels != first.num_channels:
            raise PyramidMismatchError(
                "fit_many needs pyramids with identical scale shapes and channel counts"
            )
        if (p.model_config, p.train_config) != (first.model_config, first.train_config):
            raise PyramidMismatchError("fit_many needs pyramids with identical configs")
        if p.num_trained != first.num_trained:
            raise PyramidMismatchError("fit_many needs pyramids trained to the same scale")
    last = first.num_scales - 1 if stop_scale is None else stop_scale
    if not 0 <= last < first.num_scales:
        raise InputError(f"stop_scale {stop_scale} is out of range 0..{first.num_scales - 1}")
    mcfg = first.model_config
    base_keys = [jax.random.PRNGKey(int(p.provenance.get("seed", 0))) for p in pyrs]
    for n in range(first.num_trained, last + 1):
        pyrs = [with_coarsest_diversity(p) for p in pyrs]  # a checkpoint without it
        cfgs = [scale_train_config(p) for p in pyrs]
        if len(set(cfgs)) > 1:  # the rule froze some coarsest generators: train each kind apart
            out = list(pyrs)
            for cfg in dict.fromkeys(cfgs):
                idx = [i for i, c in enumerate(cfgs) if c == cfg]
                part = fit_many(
                    [pyrs[i] for i in idx], stop_scale=last, on_scale_done=on_scale_done,
                    progress=progress, warm_start=warm_start,
                )  # fmt: skip
                for i, p in zip(idx, part):
                    out[i] = p
            return out
        tcfg = cfgs[0]
        scale_keys = [jax.random.fold_in(k, n + 1) for k in base_keys]
        inits = [
            scale_initial_weights(p, n, jax.random.fold_in(k, 0), warm_start)
            for p, k in zip(pyrs, scale_keys)
        ]
        iters, drop = tcfg.scale_iters(n, first.shapes)
        low = n - tcfg.trainable_stages(n) + 1  # the coarsest scale that trains with n
        states = [
            init_state(
                g,
                d,
                tcfg,
                drop,
                lower=[(st.params, st.stats) for st in p.stages[low:n]],
                scale=n,
            )
            for p, (g, d) in zip(pyrs, inits)
        ]
        consts = [
            scale_consts(
                n,
                p.reals[n],
                p.stages,
                p.shapes,
                p.z_opt,
                tcfg,
                mcfg,
                jax.random.fold_in(k, 2),
                lower_reals=p.reals[:n],
            )  # fmt: skip
            for p, k in zip(pyrs, scale_keys)
        ]
        iteration = make_iteration(n, first.shapes, first.num_channels, mcfg, tcfg, batched=True)
        desc = (
            f"scale {n}/{first.num_scales - 1} {format_shape(first.shapes[n])} nfc {mcfg.nfc(n)}"
            + (f" x{len(pyrs)}" if len(pyrs) > 1 else "")
        )
        iter_keys = jnp.stack([jax.random.fold_in(k, 1) for k in scale_keys])
        state, summary = run_iterations(
            iteration,
            _stack(states),
            _stack(consts),
            iter_keys,
            iters,
            desc=desc,
            progress=progress,
            plateau=(tcfg.plateau_window, tcfg.plateau_tol, drop, tcfg.lr_drop_at)
            if tcfg.plateau_window > 0
            else None,
        )
        summaries = []
        for k, p in enumerate(pyrs):
            s = _unstack(state, k)
            if low < n:  # the lower generators trained too: replace them (amplitudes kept)
                trained = [
                    Stage(prm, st, amp)
                    for prm, st, amp in zip(
                        s.g_params, s.g_stats, (*consts[k].lower_amps, consts[k].amp)
                    )
                ]
                p = replace(p, stages=(*p.stages[:low], *trained[:-1]))
                stage = trained[-1]
            else:
                stage = Stage(s.g_params, s.g_stats, consts[k].amp)
            pyrs[k] = with_coarsest_diversity(p.with_stage(stage, s.d_params))
            rec = reconstruction(pyrs[k].stages, p.shapes, p.z_opt, mcfg)
            summ = dict(summary)
            summ["rec_rmse"] = float(jnp.sqrt(jnp.mean(jnp.square(rec[0] - p.reals[n]))))
            summ["noise_amp"] = float(consts[k].amp)
            summaries.append(summ)
        if progress:
            from tqdm.auto import tqdm

            tqdm.write(
                f"{desc}: {summary['s_per_iter']:.4f} s/it, D {summary['d_total']:.3f}, "
                f"G {summary['g_adv']:.3f}, rec rmse {summaries[0]['rec_rmse']:.4f}"
            )
        if on_scale_done is not None:
            on_scale_done(pyrs, n, summaries)
    return pyrs


def fit(
    image: np.ndarray,
    seed: int = 0,
    *,
    channel_names: Sequence[str] | None = None,
    label_channels: Sequence[str] = (),
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    pyramid_config: PyramidConfig = PyramidConfig(),
    provenance: dict[str, Any] | None = None,
    resume: Pyramid | None = None,
    on_scale_done: ScaleCallback | None = None,
    progress: bool = True,
    warm_start: Pyramid | None = None,
    schedule: str | None = None,
    spacing: Any = None,
) -> Pyramid:
    """Train a SinGAN pyramid on one (C, H, W) image or one (C, D, H, W) volume.

    Args:
        image: (C, H, W) finite real array, or (C, D, H, W) for a volume pyramid (3x3x3
            convolutions); label channels must be binary/one-hot in [0, 1].
        resume: a partly trained pyramid of this image (e.g. ``load_pyramid(dir,
            require_complete=False)``); training continues from its first untrained scale.
        warm_start: a complete pyramid of a sibling image to initialise every scale from
            (recorded in the provenance; a resume must pass the same one).
        schedule: ``"singan"`` (published), ``"fast"`` or ``"finetune"`` (with
            ``warm_start`` only) replaces ``train_config``'s iteration schedule (see
            ``engine.schedules``); None keeps ``train_config``'s.
        spacing: (row, col) pixel spacing of ``image`` ((slice, row, col) for a volume; e.g.
            mm; one number if isotropic), or
            None if unknown. Recorded (for the finest scale) so that the pyramid is later run
            at its own resolution on inputs of another spacing (``engine.resolution``).
    Returns:
        The trained ``Pyramid``.
    Raises:
        InputError: bad image; PyramidMismatchError: ``resume`` was trained on another image
        or with another warm start, or ``warm_start`` does not fit this image's pyramid.
    """
    if schedule is not None:
        train_config = with_schedule(train_config, schedule)
    if warm_start is not None:
        provenance = {**(provenance or {}), "warm_start": warm_start_record(warm_start)}
    fresh = init_pyramid(
        image,
        seed,
        channel_names=channel_names,
        label_channels=label_channels,
        model_config=model_config,
        train_config=train_config,
        pyramid_config=pyramid_config,
        provenance=provenance,
        spacing=spacing,
    )
    start = fresh
    if resume is not None:
        if resume.provenance.get("sha256") != fresh.provenance["sha256"]:
            raise PyramidMismatchError(
                "cannot resume: the checkpoint was trained on a different image"
            )
        if (resume.shapes, resume.model_config, resume.train_config, resume.channels) != (
            fresh.shapes,
            fresh.model_config,
            fresh.train_config,
            fresh.channels,
        ):
            raise PyramidMismatchError(
                "cannot resume: the checkpoint's configs or channels differ from this run's"
            )
        if int(resume.provenance.get("seed", -1)) != int(seed):
            raise PyramidMismatchError(
                f"cannot resume: the checkpoint used seed {resume.provenance.get('seed')}, not {seed}"
            )
        if resume.provenance.get("warm_start") != fresh.provenance.get("warm_start"):
            raise PyramidMismatchError(
                "cannot resume: the checkpoint was warm-started from "
                f"{resume.provenance.get('warm_start')}, this run from "
                f"{fresh.provenance.get('warm_start')}"
            )
        if (
            resume.spacing is not None
            and fresh.spacing is not None
            and not np.allclose(resume.spacing, fresh.spacing, rtol=1e-6)
        ):
            raise PyramidMismatchError(
                f"cannot resume: the checkpoint's finest-scale spacing is {resume.spacing}, "
                f"this run's {fresh.spacing}"
            )
        start = replace(
            resume,
            provenance={**resume.provenance, **(provenance or {})},
            spacing=resume.spacing if fresh.spacing is None else fresh.spacing,
        )
    return fit_many([start], on_scale_done=on_scale_done, progress=progress, warm_start=warm_start)[
        0
    ]


__all__ = [
    "COARSEST_DIVERSITY_SAMPLES",
    "coarsest_diversity",
    "fit",
    "fit_many",
    "init_pyramid",
    "image_sha256",
    "reconstruction_rmse",
    "resize",
    "scale_initial_weights",
    "scale_train_config",
    "with_coarsest_diversity",
]
