"""``singan-augment report``: sample grids and quality figures (matplotlib, Agg backend).

Works on one pyramid, a ``fit-dataset`` folder of pyramids, or an ``expand`` output folder,
of images or of volumes (whose figures show the middle slice along the first axis).
Quality numbers per pyramid: sliced Wasserstein distance between real and synthetic patches
(lower = closer patch statistics), diversity (mean per-pixel std over samples / std of the real
image, as in the SinGAN paper), both from ``singan_augment.metrics``, and the label
foreground fraction, real vs synthetic.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from singan_augment.errors import InputError
from singan_augment.metrics import (
    diversity,
    sliced_wasserstein,
    volume_diversity,
    volume_sliced_wasserstein,
)


def _quality(real: np.ndarray, synthetic: np.ndarray) -> tuple[float, float]:
    """(patch SWD of the synthetic set against the real image, diversity); NaN where the
    images are smaller than a patch or there are fewer than 2 samples. Volumes (C, D, H, W)
    use the metrics' volume forms (cubic patches)."""
    volume = real.ndim == 4
    try:
        swd = (volume_sliced_wasserstein if volume else sliced_wasserstein)(synthetic, real)
    except InputError:
        swd = float("nan")
    div = (
        (volume_diversity if volume else diversity)(synthetic, real)
        if len(synthetic) >= 2
        else float("nan")
    )
    return swd, div


def _range(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (low, high) of a (C, ...) image, shaped to broadcast over it."""
    axes = tuple(range(1, real.ndim))
    return real.min(axis=axes, keepdims=True), real.max(axis=axes, keepdims=True)


def _normalise_pair(real: np.ndarray, many: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _range(real)
    scale = np.where(hi - lo < 1e-12, 1.0, hi - lo)
    return (real - lo) / scale, (many - lo) / scale


def display_image(img: np.ndarray, real: np.ndarray) -> np.ndarray:
    """A (C, H, W) image as a displayable array in [0, 1]: each channel stretched to the
    real (C, ...) image's range and clipped; (H, W, 3) when C is 3, else the first channel as
    (H, W). A (C, D, H, W) volume shows its middle slice along D."""
    lo, hi = _range(real)
    x = np.clip((img - lo) / np.where(hi - lo < 1e-12, 1, hi - lo), 0, 1)
    if x.ndim == 4:
        x = x[:, x.shape[1] // 2]
    return np.moveaxis(x, 0, -1) if x.shape[0] == 3 else x[0]


def _label_view(label: np.ndarray) -> np.ndarray:
    """A label map for display: a (D, H, W) volume's middle slice along D."""
    return label[label.shape[0] // 2] if label.ndim == 3 else label


def _collect(path: Path, n: int, seed: int, max_rows: int) -> tuple[str, list[dict[str, Any]]]:
    """Rows of (name, real image, real label, synthetic images, synthetic labels)."""
    from singan_augment.files.safe_json import read_json

    from .expand import find_pyramids, read_output, real_pair
    from .sources import DATALIST_NAME, MAX_DATALIST_BYTES

    rows = []
    if (path / DATALIST_NAME).is_file():
        data = read_json(
            path / DATALIST_NAME, max_bytes=MAX_DATALIST_BYTES, max_depth=16, raises=InputError
        )
        if not isinstance(data, dict):
            raise InputError(f"{path / DATALIST_NAME}: expected a JSON object")
        by: dict[str, dict[str, list]] = {}
        for e in data.get("training", []):
            src = str(e.get("source_pyramid", "?"))
            by.setdefault(src, {"real": [], "syn": []})[
                "syn" if e.get("synthetic") else "real"
            ].append(e)
        for src in sorted(by)[:max_rows]:
            group = by[src]
            if not group["real"] or not group["syn"]:
                continue

            def load(e):
                img = read_output(path / e["image"])
                lab = read_output(path / e["label"]) if "label" in e else None
                return np.asarray(img, np.float32), lab

            real, rlab = load(group["real"][0])
            syn = [load(e) for e in group["syn"][: max(n, 8)]]
            rows.append(
                {
                    "name": src,
                    "real": real,
                    "real_label": rlab,
                    "syn": np.stack([s[0] for s in syn]),
                    "syn_label": None if rlab is None else np.stack([s[1] for s in syn]),
                    "mode": {k: data.get(k) for k in ("start_scale", "inject_scale") if k in data},
                }
            )
        return "expanded dataset", rows
    from singan_augment.engine.sample import sample
    from singan_augment.files.pyramid_files import load_pyramid

    pyrs = find_pyramids(path)
    for name, d in pyrs[:max_rows]:
        pyr = load_pyramid(d)
        real, rlab = real_pair(pyr)
        idx = pyr.channels.image_indices
        start = 1 if pyr.num_scales > 2 else 0
        res = sample(pyr, seed, max(n, 8), start_scale=start)
        rows.append(
            {
                "name": name,
                "real": real[idx],
                "real_label": rlab,
                "syn": res.images[:, idx],
                "syn_label": res.labels,
                "mode": {"start_scale": start},
            }
        )
    return ("pyramid" if len(pyrs) == 1 else "pyramids"), rows


def make_report(
    path: str | os.PathLike, out: str | os.PathLike, *, n: int = 6, seed: int = 0, max_rows: int = 8
) -> Path:
    """Write ``out`` (.html with embedded figures and a metrics table, or .png).

    Raises:
        InputError: unknown output type, or nothing to report on.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from singan_augment.files.atomic import atomic_write

    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".html", ".png"):
        raise InputError(f"{out}: report must be .html or .png")
    what, rows = _collect(Path(path), n, seed, max_rows)
    if not rows:
        raise InputError(f"{path}: nothing to report on (no complete pyramids or synthetic pairs)")
    table = []
    for r in rows:
        real_n, syn_n = _normalise_pair(r["real"], r["syn"])
        swd, div = _quality(real_n, syn_n)
        m = {
            "name": r["name"],
            "mode": ", ".join(f"{k} {v}" for k, v in r["mode"].items()),
            "swd_real_vs_synthetic": swd,
            "diversity": div,
        }
        if r["real_label"] is not None:
            m["fg_fraction_real"] = float(np.mean(r["real_label"] > 0))
            m["fg_fraction_synthetic"] = float(np.mean(r["syn_label"] > 0))
        table.append(m)

    cols = 2 + n if rows[0]["real_label"] is not None else 1 + n
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.6 * cols, 1.7 * len(rows)), squeeze=False)
    for i, r in enumerate(rows):
        ax = axes[i]
        ax[0].imshow(display_image(r["real"], r["real"]), cmap="gray")
        ax[0].set_title(f"{r['name'][:18]}\nreal", fontsize=7)
        k = 1
        if r["real_label"] is not None:
            ax[1].imshow(
                _label_view(r["real_label"]), cmap="tab10", vmin=0, vmax=9, interpolation="nearest"
            )
            ax[1].set_title("real label", fontsize=7)
            k = 2
        for j in range(n):
            a = ax[k + j]
            if j < len(r["syn"]):
                a.imshow(display_image(r["syn"][j], r["real"]), cmap="gray")
                if r["syn_label"] is not None:
                    outline = _label_view(r["syn_label"][j]) > 0
                    if outline.any() and not outline.all():
                        a.contour(outline, levels=[0.5], colors="r", linewidths=0.6)
                a.set_title(f"synthetic {j}", fontsize=7)
        for a in ax:
            a.set_axis_off()
    volumes = rows[0]["real"].ndim == 4
    fig.suptitle(
        f"{what}: {Path(path).name} (red: decoded label outline"
        + ("; volumes: middle slice along the first axis)" if volumes else ")"),
        fontsize=9,
    )
    fig.tight_layout()
    grid = io.BytesIO()
    fig.savefig(grid, format="png", dpi=110)
    plt.close(fig)

    fig2, ax2 = plt.subplots(1, 2, figsize=(8, 2.8))
    names = [t["name"][:14] for t in table]
    ax2[0].bar(names, [t["swd_real_vs_synthetic"] for t in table], color="tab:blue")
    ax2[0].set_title("sliced Wasserstein, real vs synthetic (lower = closer)", fontsize=8)
    ax2[1].bar(names, [t["diversity"] for t in table], color="tab:orange")
    ax2[1].set_title("diversity (std over samples / std of real)", fontsize=8)
    for a in ax2:
        a.tick_params(axis="x", labelrotation=45, labelsize=6)
    fig2.tight_layout()
    quality = io.BytesIO()
    fig2.savefig(quality, format="png", dpi=110)
    plt.close(fig2)

    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == ".png":
        from PIL import Image

        a = Image.open(io.BytesIO(grid.getvalue())).convert("RGB")
        b = Image.open(io.BytesIO(quality.getvalue())).convert("RGB")
        canvas = Image.new("RGB", (max(a.width, b.width), a.height + b.height), "white")
        canvas.paste(a, (0, 0))
        canvas.paste(b, (0, a.height))
        buf = io.BytesIO()
        canvas.save(buf, format="PNG")
        atomic_write(out, buf.getvalue())
        return out
    keys = list(dict.fromkeys(k for t in table for k in t))
    head = "".join(f"<th>{k}</th>" for k in keys)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{t.get(k):.4f}</td>"
            if isinstance(t.get(k), float)
            else f"<td>{t.get(k, '')}</td>"
            for k in keys
        )
        + "</tr>"
        for t in table
    )

    def img(b: io.BytesIO) -> str:
        return f'<img src="data:image/png;base64,{base64.b64encode(b.getvalue()).decode()}">'

    html = f"""<!doctype html><html><head><meta charset="utf-8">
<title>singan-augment report: {Path(path).name}</title>
<style>body{{font-family:sans-serif;margin:1.5em}}td,th{{border:1px solid #ccc;padding:3px 6px}}
table{{border-collapse:collapse;font-size:13px}}</style></head><body>
<h1>singan-augment report: {what} <code>{Path(path)}</code></h1>
<h2>Samples</h2>{img(grid)}
<h2>Quality</h2><p>Multi-scale patch SWD and diversity (singan_augment.metrics); intensities normalised by each real image's
per-channel range. Synthetic samples: {len(rows[0]["syn"])} per pyramid.</p>
<table><tr>{head}</tr>{body}</table>{img(quality)}
</body></html>
"""
    atomic_write(out, html.encode())
    return out
