"""3x3 and 3x3x3 "valid" convolutions (stride 1, no padding, no bias) in JAX, written for XLA's
CPU matmul.

SinGAN's nets are stacks of 3x3 valid convolutions. On the CPU, XLA's own convolution is
several times slower than its matmul (and pathological when one side has few channels:
a 128->1 conv at 186x248 takes as long as a 128->128 one), so this module rewrites the
convolution as matmuls plus cheap, fusible slicing. Layout: NHWC activations, HWIO weights.

Implementations (``impl``):

``"xla"``
    ``lax.conv_general_dilated``, the baseline.
``"shifted"``
    Sum of 9 matmuls, one per kernel tap, on shifted NHWC views of the input.
``"im2col"``
    The 9 shifted views concatenated on the channel axis, then one matmul with K = 9*Cin.
    Best when Cin is small (the first layer: 1-4 image channels).
``"rows"``
    The image is flattened to a (N*H*W, Cin) matrix, where a shift by (i, j) is a shift by
    i*W + j rows. The 3 horizontal taps are concatenated (K = 3*Cin), one matmul gives the
    3 kernel rows' partial sums (3*Cout columns) and 3 row-shifted slices are added.
    Outputs that straddle a row end are computed and cropped (2 of every W columns).
``"taps"``
    One matmul of the flattened image with all 9 taps side by side (9*Cout columns), then 9
    shifted slices are added. Cheap when Cout is small (the last layers: 1 or C channels).
``"winograd"``
    Winograd F(2x2, 3x3): tiles are extracted by reshaping rows and columns into pairs
    (no gathers), the input/output transforms are additions that XLA fuses, and the 16
    per-position products are 16 separate 2-D matmuls (XLA's batched dot was slower).
    It does 2.25x fewer multiply-adds than the direct form. Max error vs ``"xla"`` is
    ~1e-6 relative in float32.
``"winograd_cv"``
    The same forward with a ``jax.custom_vjp``: the input gradient is computed as another
    Winograd convolution (of the cotangent padded by 2, with the flipped kernel) instead of
    JAX's transpose of the tile transforms; the weight gradient is JAX's transpose. The rule's
    backward is itself built from differentiable ops, so grad-of-grad works (tested).
``"auto"``
    Picks by shape (see :func:`select_impl`).

Every implementation except ``"winograd_cv"`` is built from slices, pads, reshapes,
concatenations, additions and dots only, so forward, backward and grad-of-grad (the WGAN-GP
penalty) come from plain ``jax.grad``: the backward of each is the same matmul formulation
transposed by JAX.

Volumes (``conv3x3x3_valid``, NDHWC x DHWIO) have ``"xla"``, ``"shifted"`` (27 matmuls),
``"im2col"`` (K = 27*Cin), ``"rows"`` (the volume flattened to (N*D*H*W, Cin), a shift by
(a, i, j) being a shift by a*H*W + i*W + j rows: 3 horizontal taps concatenated, one matmul
to 9*Cout columns, 9 shifted slices added), ``"planes"`` (the 9 in-plane taps concatenated,
K = 9*Cin, one matmul to 3*Cout columns, 3 slices a plane apart added) and ``"taps"`` (one
matmul to 27*Cout columns, 27 shifted slices). Winograd is 2-D only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from singan_augment.errors import InputError

IMPLS: tuple[str, ...] = ("xla", "shifted", "im2col", "rows", "taps", "winograd", "winograd_cv")

# The "auto" rule, from benchmarks/conv_kernels.py --edge on the shared 2-core AMD EPYC
# (jax 0.10.2; the run is in docs/conv_kernels.md), forward+backward medians, batch 1:
#   Cin <= 4, e.g. 3->128 at 186x248: im2col 55 ms, xla 73 ms, rows 179 ms, winograd 144 ms.
#   Cout <= 4, e.g. 64->1 at 145x193: taps 5.6 ms, xla 56 ms, rows 52 ms, winograd 79 ms.
#   64->64: rows 13.7 ms vs winograd 15.6 vs xla 26.9 at 69x91; rows 72 vs winograd 74 vs
#   xla 90 at 145x193; at 25x34 (32ch) everything is 0.8-2 ms and rows ~ xla.
#   128->128 at 186x248: winograd 380 ms vs rows 458 vs xla 1173 (torch channels_last 380).
# Winograd's transforms cost O(C) per pixel and save 2.25x of the O(Cin*Cout) products, so it
# pays only from ~128 channels on; "winograd_cv" was not faster than "winograd" in that run.
_SMALL_CHANNELS = 4
_WINOGRAD_MIN_CHANNELS = 96


def _check(x: jax.Array, w: jax.Array) -> None:
    if x.ndim != 4:
        raise InputError(f"conv3x3_valid: x must be NHWC (rank 4), got shape {tuple(x.shape)}")
    if w.ndim != 4 or w.shape[:2] != (3, 3):
        raise InputError(
            f"conv3x3_valid: w must be a 3x3 HWIO kernel (3, 3, Cin, Cout), got shape {tuple(w.shape)}"
        )
    if w.shape[2] != x.shape[3]:
        raise InputError(
            f"conv3x3_valid: x has {x.shape[3]} channels but w expects Cin={w.shape[2]}"
        )
    if x.shape[1] < 3 or x.shape[2] < 3:
        raise InputError(
            f"conv3x3_valid: H and W must be >= 3 for a 3x3 valid conv, got {x.shape[1]}x{x.shape[2]}"
        )


def select_impl(x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> str:
    """The implementation ``"auto"`` uses for these static shapes (measured rule, see above)."""
    cin = x_shape[3]
    cout = w_shape[3]
    if cin <= _SMALL_CHANNELS:
        return "im2col"
    if cout <= _SMALL_CHANNELS:
        return "taps"
    if min(cin, cout) >= _WINOGRAD_MIN_CHANNELS:
        return "winograd"
    return "rows"


def _xla(x: jax.Array, w: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(
        x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def _shifted(x: jax.Array, w: jax.Array) -> jax.Array:
    ho, wo = x.shape[1] - 2, x.shape[2] - 2
    out = None
    for i in range(3):
        for j in range(3):
            t = jnp.einsum("nhwc,cd->nhwd", x[:, i : i + ho, j : j + wo, :], w[i, j])
            out = t if out is None else out + t
    return out


def _im2col(x: jax.Array, w: jax.Array) -> jax.Array:
    n, h, wd, cin = x.shape
    ho, wo = h - 2, wd - 2
    cols = jnp.concatenate(
        [x[:, i : i + ho, j : j + wo, :] for i in range(3) for j in range(3)], axis=-1
    )
    return jnp.einsum("nhwk,kd->nhwd", cols, w.reshape(9 * cin, -1))


def _flatten(x: jax.Array) -> tuple[jax.Array, int]:
    """(N, H, W, C) -> (N*H*W, C) and the number L of flat output rows that stay in bounds."""
    n, h, wd, c = x.shape
    return x.reshape(n * h * wd, c), n * h * wd - 2 * wd - 2


def _unflatten(y: jax.Array, n: int, h: int, wd: int) -> jax.Array:
    """(L, D) flat outputs -> (N, H-2, W-2, D), dropping the rows that straddle an edge."""
    y = jnp.pad(y, ((0, n * h * wd - y.shape[0]), (0, 0))).reshape(n, h, wd, y.shape[1])
    return y[:, : h - 2, : wd - 2]


def _rows(x: jax.Array, w: jax.Array) -> jax.Array:
    n, h, wd, cin = x.shape
    cout = w.shape[3]
    xf, length = _flatten(x)
    l3 = length + 2 * wd
    x3 = jnp.concatenate([xf[j : j + l3] for j in range(3)], axis=-1)  # (l3, 3*Cin), (j, c)
    w3 = jnp.transpose(w, (1, 2, 0, 3)).reshape(3 * cin, 3 * cout)  # (j, c) x (i, d)
    y = (x3 @ w3).reshape(l3, 3, cout)
    out = y[0:length, 0] + y[wd : wd + length, 1] + y[2 * wd : 2 * wd + length, 2]
    return _unflatten(out, n, h, wd)


def _taps(x: jax.Array, w: jax.Array) -> jax.Array:
    n, h, wd, cin = x.shape
    cout = w.shape[3]
    xf, length = _flatten(x)
    y = (xf @ jnp.transpose(w, (2, 0, 1, 3)).reshape(cin, 9 * cout)).reshape(-1, 9, cout)
    out = None
    for i in range(3):
        for j in range(3):
            off = i * wd + j
            t = y[off : off + length, 3 * i + j]
            out = t if out is None else out + t
    return _unflatten(out, n, h, wd)


def _wino_in_1d(x: jax.Array, axis: int, tiles: int) -> list[jax.Array]:
    """B^T d along ``axis`` (length 2*tiles + 2), for all tiles at once, via a pair reshape."""
    s = x.shape
    xp = x.reshape(s[:axis] + (tiles + 1, 2) + s[axis + 1 :])

    def el(k: int, r: int) -> jax.Array:  # element r of pair (t + k), for t in range(tiles)
        return lax.index_in_dim(
            lax.slice_in_dim(xp, k, k + tiles, axis=axis), r, axis + 1, keepdims=False
        )

    d0, d1, d2, d3 = el(0, 0), el(0, 1), el(1, 0), el(1, 1)
    return [d0 - d2, d1 + d2, d2 - d1, d1 - d3]


def _wino_out_1d(
    m0: jax.Array, m1: jax.Array, m2: jax.Array, m3: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """A^T m for one row/column of the 4x4 product tile."""
    return m0 + m1 + m2, m1 - m2 - m3


def _winograd(x: jax.Array, w: jax.Array) -> jax.Array:
    n, h, wd, cin = x.shape
    cout = w.shape[3]
    ho, wo = h - 2, wd - 2
    ty, tx = -(-ho // 2), -(-wo // 2)  # odd outputs: pad by one and crop
    x = jnp.pad(x, ((0, 0), (0, 2 * ty + 2 - h), (0, 2 * tx + 2 - wd), (0, 0)))
    g = jnp.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]], w.dtype)
    u = jnp.einsum("ai,bj,ijcd->abcd", g, g, w).reshape(16, cin, cout)
    v = [c for r in _wino_in_1d(x, 1, ty) for c in _wino_in_1d(r, 2, tx)]  # 16 x (N, ty, tx, Cin)
    m = [(v[k].reshape(-1, cin) @ u[k]).reshape(n, ty, tx, cout) for k in range(16)]
    rows = [_wino_out_1d(*m[4 * a : 4 * a + 4]) for a in range(4)]  # rows[a][q]
    y = [_wino_out_1d(*(rows[a][q] for a in range(4))) for q in range(2)]  # y[q][p]
    out = jnp.stack(
        [jnp.stack([y[0][p], y[1][p]], axis=3) for p in range(2)], axis=2
    )  # N,ty,2,tx,2,D
    return out.reshape(n, 2 * ty, 2 * tx, cout)[:, :ho, :wo]


@jax.custom_vjp
def _winograd_cv(x: jax.Array, w: jax.Array) -> jax.Array:
    return _winograd(x, w)


def _winograd_cv_fwd(x: jax.Array, w: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return _winograd(x, w), (x, w)


def _winograd_cv_bwd(res: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, w = res
    # dx is the full correlation of g with the flipped, in/out-swapped kernel: a valid conv of
    # g padded by 2, done by the same Winograd forward (itself differentiable by this rule).
    gp = jnp.pad(g, ((0, 0), (2, 2), (2, 2), (0, 0)))
    dx = _winograd_cv(gp, jnp.transpose(w[::-1, ::-1], (0, 1, 3, 2)))
    # dw: JAX's transpose of the Winograd forward w.r.t. w only (products in the Winograd domain).
    _, vjp_w = jax.vjp(lambda w_: _winograd(x, w_), w)
    return dx, vjp_w(g)[0]


_winograd_cv.defvjp(_winograd_cv_fwd, _winograd_cv_bwd)


def _check3(x: jax.Array, w: jax.Array) -> None:
    if x.ndim != 5:
        raise InputError(f"conv3x3x3_valid: x must be NDHWC (rank 5), got shape {tuple(x.shape)}")
    if w.ndim != 5 or w.shape[:3] != (3, 3, 3):
        raise InputError(
            "conv3x3x3_valid: w must be a 3x3x3 DHWIO kernel (3, 3, 3, Cin, Cout), "
            f"got shape {tuple(w.shape)}"
        )
    if w.shape[3] != x.shape[4]:
        raise InputError(
            f"conv3x3x3_valid: x has {x.shape[4]} channels but w expects Cin={w.shape[3]}"
        )
    if min(x.shape[1:4]) < 3:
        raise InputError(
            "conv3x3x3_valid: D, H and W must be >= 3 for a 3x3x3 valid conv, got "
            + "x".join(str(v) for v in x.shape[1:4])
        )


# The 3-D "auto" rule, from benchmarks/conv3d_kernels.py (forward + backward, batch 1, the
# run is in docs/volumes.md): "planes" is fastest wherever Cout > 4 (3->16 at 74^3: 160 ms
# vs im2col 275, rows 344; 16->16 at 72^3: 337 vs rows 489; 32->32 at 52^3: 337 vs 439),
# "rows" when Cout <= 4 (16->3 at 66^3: 99 ms vs planes 162, taps 242; 8->1 at 40^3: 5 vs 32).


def select_impl_3d(x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> str:
    """The implementation ``"auto"`` uses for a 3x3x3 convolution of these static shapes."""
    del x_shape
    return "rows" if w_shape[4] <= _SMALL_CHANNELS else "planes"


def _xla3(x: jax.Array, w: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(
        x, w, (1, 1, 1), "VALID", dimension_numbers=("NDHWC", "DHWIO", "NDHWC")
    )


_TAPS3 = [(a, i, j) for a in range(3) for i in range(3) for j in range(3)]


def _shifted3(x: jax.Array, w: jax.Array) -> jax.Array:
    do, ho, wo = (s - 2 for s in x.shape[1:4])
    out = None
    for a, i, j in _TAPS3:
        v = x[:, a : a + do, i : i + ho, j : j + wo, :]
        t = jnp.einsum("ndhwc,ce->ndhwe", v, w[a, i, j])
        out = t if out is None else out + t
    return out


def _im2col3(x: jax.Array, w: jax.Array) -> jax.Array:
    do, ho, wo = (s - 2 for s in x.shape[1:4])
    cols = jnp.concatenate(
        [x[:, a : a + do, i : i + ho, j : j + wo, :] for a, i, j in _TAPS3], axis=-1
    )
    return jnp.einsum("ndhwk,ke->ndhwe", cols, w.reshape(27 * x.shape[4], -1))


def _flatten3(x: jax.Array) -> tuple[jax.Array, int]:
    """(N, D, H, W, C) -> (N*D*H*W, C) and the number L of flat outputs that stay in bounds."""
    n, d, h, wd, c = x.shape
    return x.reshape(n * d * h * wd, c), n * d * h * wd - 2 * h * wd - 2 * wd - 2


def _unflatten3(y: jax.Array, n: int, d: int, h: int, wd: int) -> jax.Array:
    """(L, E) flat outputs -> (N, D-2, H-2, W-2, E), dropping those that straddle an edge."""
    y = jnp.pad(y, ((0, n * d * h * wd - y.shape[0]), (0, 0))).reshape(n, d, h, wd, y.shape[1])
    return y[:, : d - 2, : h - 2, : wd - 2]


def _rows3(x: jax.Array, w: jax.Array) -> jax.Array:
    n, d, h, wd, cin = x.shape
    cout = w.shape[4]
    xf, length = _flatten3(x)
    plane = h * wd
    l3 = length + 2 * plane + 2 * wd
    x3 = jnp.concatenate([xf[j : j + l3] for j in range(3)], axis=-1)  # (l3, 3*Cin), (j, c)
    w3 = jnp.transpose(w, (2, 3, 0, 1, 4)).reshape(3 * cin, 9 * cout)  # (j, c) x (a, i, e)
    y = (x3 @ w3).reshape(l3, 9, cout)
    out = None
    for a in range(3):
        for i in range(3):
            off = a * plane + i * wd
            t = y[off : off + length, 3 * a + i]
            out = t if out is None else out + t
    return _unflatten3(out, n, d, h, wd)


def _planes3(x: jax.Array, w: jax.Array) -> jax.Array:
    n, d, h, wd, cin = x.shape
    cout = w.shape[4]
    xf, length = _flatten3(x)
    plane = h * wd
    l9 = length + 2 * plane
    x9 = jnp.concatenate(  # (l9, 9*Cin), (i, j, c): the in-plane taps side by side
        [xf[i * wd + j : i * wd + j + l9] for i in range(3) for j in range(3)], axis=-1
    )
    w9 = jnp.transpose(w, (1, 2, 3, 0, 4)).reshape(9 * cin, 3 * cout)  # (i, j, c) x (a, e)
    y = (x9 @ w9).reshape(l9, 3, cout)
    out = y[0:length, 0] + y[plane : plane + length, 1] + y[2 * plane : 2 * plane + length, 2]
    return _unflatten3(out, n, d, h, wd)


def _taps3(x: jax.Array, w: jax.Array) -> jax.Array:
    n, d, h, wd, cin = x.shape
    cout = w.shape[4]
    xf, length = _flatten3(x)
    y = (xf @ jnp.transpose(w, (3, 0, 1, 2, 4)).reshape(cin, 27 * cout)).reshape(-1, 27, cout)
    out = None
    for k, (a, i, j) in enumerate(_TAPS3):
        off = a * h * wd + i * wd + j
        t = y[off : off + length, k]
        out = t if out is None else out + t
    return _unflatten3(out, n, d, h, wd)


IMPLS_3D: tuple[str, ...] = ("xla", "shifted", "im2col", "rows", "planes", "taps")

_FUNCS_3D = {
    "xla": _xla3,
    "shifted": _shifted3,
    "im2col": _im2col3,
    "rows": _rows3,
    "planes": _planes3,
    "taps": _taps3,
}


def conv3x3x3_valid(x: jax.Array, w: jax.Array, impl: str = "auto") -> jax.Array:
    """x: (N, D, H, W, Cin); w: (3, 3, 3, Cin, Cout). Returns (N, D-2, H-2, W-2, Cout). No bias.

    ``impl`` is ``"auto"`` or one of ``IMPLS_3D``; all give the same values (to float32
    rounding) and are differentiable to any order with ``jax.grad``.

    Raises:
        InputError: bad ranks or shapes, or an implementation that has no 3-D form.
    """
    _check3(x, w)
    if impl == "auto":
        impl = select_impl_3d(tuple(x.shape), tuple(w.shape))
    fn = _FUNCS_3D.get(impl)
    if fn is None:
        raise InputError(
            f"conv3x3x3_valid: impl {impl!r} has no 3-D form; choose from {('auto',) + IMPLS_3D}"
        )
    return fn(x, w)


_FUNCS = {
    "xla": _xla,
    "shifted": _shifted,
    "im2col": _im2col,
    "rows": _rows,
    "taps": _taps,
    "winograd": _winograd,
    "winograd_cv": _winograd_cv,
}


def conv3x3_valid(x: jax.Array, w: jax.Array, impl: str = "auto") -> jax.Array:
    """x: (N, H, W, Cin); w: (3, 3, Cin, Cout). Returns (N, H-2, W-2, Cout). No bias.

    ``impl`` is one of ``"auto"``, ``"xla"``, ``"shifted"``, ``"im2col"``, ``"rows"``,
    ``"taps"``, ``"winograd"``, ``"winograd_cv"``. All give the same values (to float32 rounding) and are
    differentiable to any order with ``jax.grad``.
    """
    _check(x, w)
    if impl == "auto":
        impl = select_impl(tuple(x.shape), tuple(w.shape))
    fn = _FUNCS.get(impl)
    if fn is None:
        raise InputError(f"conv3x3_valid: unknown impl {impl!r}; choose from {('auto',) + IMPLS}")
    return fn(x, w)
