"""A training-free patch-nearest-neighbour generator (GPNN-style), the baseline for the study.

Granot et al., "Drop the GAN: In Defense of Patches Nearest Neighbors as Single Image Generative
Models" (CVPR 2022), showed that single-image generation needs no training: coarse-to-fine, the
output is rebuilt from the training image's own patches. A user who wants "more pairs like this
one" could pick this instead of SinGAN, so the downstream study (docs/results.md) compares
against it. It is written for the study, not as a product feature; this implementation is ours
and simplified (no approximate search, a fixed number of refinement passes).

The method, per pyramid level from coarse to fine (factor 0.75, coarsest short side 25 px, as
SinGAN's pyramid):

1. The query is the previous level's output, upsampled (at the coarsest level: the source's
   coarsest level plus Gaussian noise of std ``noise`` in [-1, 1] units, which is what makes
   samples differ).
2. Every k x k query patch is matched to a source patch: keys are the source level blurred
   (downsampled to the previous level and back up, so they look like the query), values are
   the sharp source level. The distance is GPNN's normalised score
   ``|q - k|^2 / (alpha + min_q' |q' - k|^2)``, which favours keys no other query claimed yet
   (completeness: the output uses the whole source, not one patch everywhere).
3. The output is the overlap-average of the chosen value patches; steps 2-3 repeat
   ``passes`` times with the output as the next query.

Label channels are carried in the value patches but not matched on, so each output pixel's
label comes from the same source patches as its intensities; they are thresholded at 0.5 at the
end (one-hot classes: argmax). So image and label stay consistent by construction.

    python examples/patch_nn.py --out runs/patch_nn_demo.png   # a quick look on shipped data
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def level_shapes(h: int, w: int, min_size: int = 25, factor: float = 0.75) -> list[tuple[int, int]]:
    """(H, W) of every level, coarsest first, down to a short side of about ``min_size``."""
    n = max(int(math.ceil(math.log(min_size / min(h, w)) / math.log(factor))), 0)
    return [
        (max(round(h * factor ** (n - i)), 1), max(round(w * factor ** (n - i)), 1))
        for i in range(n + 1)
    ]


def _resize(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=shape, mode="bicubic", align_corners=False, antialias=True)


def _nearest(
    query: torch.Tensor, keys: torch.Tensor, alpha: float, chunk: int = 4096
) -> torch.Tensor:
    """Index of the best key for every query row under GPNN's normalised score."""
    # min over queries of each key's distance (the completeness normaliser); the chunks'
    # distances are kept for the second pass (about 0.5 GB at 128 px) instead of recomputed
    kmin = torch.full((keys.shape[0],), float("inf"))
    dists = []
    for i in range(0, query.shape[0], chunk):
        dists.append(torch.cdist(query[i : i + chunk], keys).square_())
        kmin = torch.minimum(kmin, dists[-1].min(dim=0).values)
    return torch.cat([(d / (alpha + kmin)).argmin(dim=1) for d in dists])


def _fold_mean(patches: torch.Tensor, shape: tuple[int, int], k: int) -> torch.Tensor:
    """Overlap-average (L, C*k*k) patches back into a (1, C, H, W) image."""
    cols = patches.T.unsqueeze(0)  # 1, C*k*k, L
    out = F.fold(cols, shape, k)
    norm = F.fold(torch.ones_like(cols[:, : k * k]), shape, k)
    return out / norm


def noisy_start(
    coarsest: torch.Tensor, noise: float, gen: torch.Generator, *, shared: bool = False
) -> torch.Tensor:
    """The first query: the (1, C, h, w) coarsest source level plus Gaussian noise of std
    ``noise``, one map for every channel if ``shared`` (GPNN's code), else one per channel."""
    shape = (1, 1, *coarsest.shape[2:]) if shared else tuple(coarsest.shape)
    return coarsest + noise * torch.randn(shape, generator=gen)


def generate(
    image: np.ndarray,
    seed: int,
    *,
    label_channels: Sequence[int] = (),
    patch: int = 7,
    alpha: float = 0.005,
    noise: float = 0.75,
    passes: int = 10,
    min_size: int = 25,
    shared_noise: bool = False,
) -> np.ndarray:
    """One sample like ``image``.

    Args:
        image: (C, H, W) float in [0, 1] (label channels 0/1, one-hot if several).
        seed: noise seed; the result is deterministic in it.
        label_channels: indices of label channels: carried, not matched, thresholded at the end.
        noise: the coarsest level's noise std in [-1, 1] units (GPNN's sigma is in [0, 1]
            units: its default 0.75 is 1.5 here).
        shared_noise: one noise map added to every channel, as GPNN's code does; by default
            each channel draws its own.
    Returns:
        (C, H, W) float32; image channels in [0, 1], label channels exactly 0/1.
    """
    x = torch.from_numpy(np.asarray(image, np.float32) * 2.0 - 1.0)[None]
    c, h, w = x.shape[1:]
    if min(h, w) < patch:
        raise ValueError(f"image {h}x{w} is smaller than the {patch}x{patch} patch")
    labels = list(label_channels)
    match = [i for i in range(c) if i not in labels]
    gen = torch.Generator().manual_seed(int(seed))
    shapes = level_shapes(h, w, max(min_size, patch))
    src = [_resize(x, s) for s in shapes]
    out = noisy_start(src[0], noise, gen, shared=shared_noise)
    for n, shape in enumerate(shapes):
        if n > 0:
            out = _resize(out, shape)
        keys_img = _resize(_resize(src[n], shapes[n - 1]), shape) if n > 0 else src[0]
        k = min(patch, *shape)
        keys = F.unfold(keys_img[:, match], k).squeeze(0).T
        values = F.unfold(src[n], k).squeeze(0).T
        for _ in range(passes if n < len(shapes) - 1 else max(passes // 2, 1)):
            q = F.unfold(out[:, match], k).squeeze(0).T
            idx = _nearest(q, keys, alpha)
            out = _fold_mean(values[idx], shape, k)
    res = ((out[0] + 1.0) / 2.0).clamp(0.0, 1.0).numpy()
    if labels:
        lab = res[labels]
        if len(labels) == 1:
            res[labels[0]] = (lab[0] > 0.5).astype(np.float32)
        else:
            fg = lab.max(axis=0) > 0.5
            hot = np.eye(len(labels), dtype=np.float32)[lab.argmax(axis=0)].transpose(2, 0, 1)
            res[labels] = hot * fg
    return res.astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/patch_nn_demo.png")
    ap.add_argument("--n", type=int, default=4)
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from singan_augment.data import fluorescence_nuclei

    img, labels = fluorescence_nuclei()
    tile = np.concatenate([img[:, 192:256, 64:128], labels[None, 192:256, 64:128] > 0])
    tile = tile.astype(np.float32)
    fig, axes = plt.subplots(2, args.n + 1, figsize=(2 * (args.n + 1), 4))
    for j in range(args.n + 1):
        s = tile if j == 0 else generate(tile, j, label_channels=[1])
        axes[0, j].imshow(s[0], cmap="gray")
        axes[1, j].imshow(s[1], cmap="gray")
        axes[0, j].set_title("real" if j == 0 else f"seed {j}", fontsize=8)
        for a in axes[:, j]:
            a.axis("off")
    fig.tight_layout()
    from pathlib import Path

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
