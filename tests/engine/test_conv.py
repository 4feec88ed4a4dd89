"""Every conv3x3_valid implementation against lax.conv_general_dilated: values, grads, grad of grad."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from singan_augment.engine.conv import (
    IMPLS,
    IMPLS_3D,
    conv3x3_valid,
    conv3x3x3_valid,
    select_impl,
    select_impl_3d,
)

CASES = [  # (N, H, W, Cin, Cout)
    (1, 7, 9, 3, 32),
    (2, 8, 8, 32, 1),
    (1, 25, 34, 8, 8),
    (2, 9, 6, 5, 7),
    (1, 3, 3, 4, 2),
]


def ref_conv(x: jax.Array, w: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(
        x,
        w,
        (1, 1),
        "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=lax.Precision.HIGHEST,
    )


def normal(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> jax.Array:
    """Test inputs from numpy's generator: no random kernel to compile per shape."""
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape, np.float32) * scale)


def make(case: tuple[int, ...], seed: int = 0) -> tuple[jax.Array, jax.Array]:
    n, h, wd, cin, cout = case
    x = normal(2 * seed, (n, h, wd, cin))
    w = normal(2 * seed + 1, (3, 3, cin, cout), 1 / np.sqrt(9 * cin))
    return x, w


@functools.cache
def reference(kind: str, case: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, ...]:
    """XLA's convolution on ``make(case, seed)``, compiled once per (kind, case) and kept for
    every form compared with it: ``"values"``, ``"grads"`` (of ``tanh_loss``, wrt x and w) or
    ``"gog"`` (of ``gradient_penalty``, wrt both weights)."""
    conv = ref_conv if len(case) == 5 else ref_conv3
    x, w = (make if len(case) == 5 else make3)(case, seed)
    if kind == "values":
        out = (jax.jit(conv)(x, w),)
    elif kind == "grads":
        proj = projection(case)
        out = jax.jit(jax.grad(lambda x, w: tanh_loss(conv, x, w, proj), (0, 1)))(x, w)
    else:
        w2 = second_layer(case)
        out = jax.jit(jax.grad(lambda w1, w2: gradient_penalty(conv, x, w1, w2), (0, 1)))(w, w2)
    return tuple(np.asarray(o) for o in out)


def projection(case: tuple[int, ...]) -> jax.Array:
    """A fixed random read-out of a convolution's output for ``case``."""
    n, *spatial = case[:-2]
    return normal(7, (n, *(s - 2 for s in spatial), case[-1]))


def second_layer(case: tuple[int, ...]) -> jax.Array:
    """A critic's 3x3 (3x3x3) output layer from ``case``'s Cout to one channel."""
    taps = (3,) * (len(case) - 3)
    return normal(3, (*taps, case[-1], 1), 1 / np.sqrt(3 ** len(taps) * case[-1]))


def tanh_loss(conv, x: jax.Array, w: jax.Array, proj: jax.Array) -> jax.Array:
    return jnp.sum(jnp.tanh(conv(x, w)) * proj)


def assert_close(a: jax.Array, b: jax.Array, rtol: float = 1e-4) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = max(float(np.abs(b).max()), 1e-12)
    err = float(np.abs(a - b).max()) / scale
    assert err < rtol, f"max error {err:.2e} relative to max |ref|"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_values(impl: str, case: tuple[int, ...]) -> None:
    x, w = make(case)
    out = jax.jit(conv3x3_valid, static_argnames="impl")(x, w, impl=impl)
    n, h, wd, _, cout = case
    assert out.shape == (n, h - 2, wd - 2, cout)
    assert out.dtype == jnp.float32
    assert_close(out, reference("values", case)[0])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES[:4], ids=lambda c: "x".join(map(str, c)))
def test_grads(impl: str, case: tuple[int, ...]) -> None:
    x, w = make(case)
    proj = projection(case)

    def conv(a, b):
        return conv3x3_valid(a, b, impl)

    got = jax.jit(jax.grad(lambda x, w: tanh_loss(conv, x, w, proj), (0, 1)))(x, w)
    want = reference("grads", case)
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])


def gradient_penalty(conv, x: jax.Array, w1: jax.Array, w2: jax.Array) -> jax.Array:
    """WGAN-GP-like: a 2-layer critic, (||d critic.sum() / dx||_2 over channels per pixel - 1)^2."""

    def critic(x):
        return conv(jax.nn.leaky_relu(conv(x, w1), 0.2), w2).sum()

    g = jax.grad(critic)(x)
    norm = jnp.sqrt(jnp.sum(g**2, axis=-1) + 1e-12)
    return jnp.mean((norm - 1.0) ** 2)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "case", [(1, 11, 10, 3, 16), (2, 12, 9, 16, 8)], ids=lambda c: "x".join(map(str, c))
)
def test_grad_of_grad(impl: str, case: tuple[int, ...]) -> None:
    x, w1 = make(case, seed=1)
    w2 = second_layer(case)

    def conv(a, b):
        return conv3x3_valid(a, b, impl)

    got = jax.jit(jax.grad(lambda w1, w2: gradient_penalty(conv, x, w1, w2), (0, 1)))(w1, w2)
    want = reference("gog", case, seed=1)
    assert float(np.abs(want[0]).max()) > 0
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])


@pytest.mark.parametrize(
    "x_shape, w_shape",
    [
        ((8, 8, 3), (3, 3, 3, 4)),  # rank 3 input
        ((1, 8, 8, 3), (3, 3, 4)),  # rank 3 kernel
        ((1, 8, 8, 3), (5, 5, 3, 4)),  # not 3x3
        ((1, 8, 8, 3), (3, 3, 2, 4)),  # Cin mismatch
        ((1, 2, 8, 3), (3, 3, 3, 4)),  # H < 3
        ((1, 8, 2, 3), (3, 3, 3, 4)),  # W < 3
    ],
)
def test_bad_shapes(x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="conv3x3_valid"):
        conv3x3_valid(jnp.zeros(x_shape), jnp.zeros(w_shape))


def test_unknown_impl() -> None:
    with pytest.raises(ValueError, match="unknown impl"):
        conv3x3_valid(jnp.zeros((1, 5, 5, 2)), jnp.zeros((3, 3, 2, 2)), impl="fft")


def test_auto_rule() -> None:
    assert select_impl((1, 186, 248, 3), (3, 3, 3, 128)) == "im2col"
    assert select_impl((1, 186, 248, 128), (3, 3, 128, 1)) == "taps"
    assert select_impl((1, 186, 248, 128), (3, 3, 128, 128)) == "winograd"
    assert select_impl((1, 145, 193, 64), (3, 3, 64, 64)) == "rows"
    assert select_impl((1, 25, 34, 32), (3, 3, 32, 32)) == "rows"


# --- 3x3x3 convolutions (volumes) ------------------------------------------------------------

CASES_3D = [  # (N, D, H, W, Cin, Cout)
    (1, 5, 6, 7, 3, 8),  # few input channels
    (2, 4, 5, 3, 8, 2),  # few output channels (auto: rows)
    (1, 6, 5, 6, 6, 7),  # auto: planes
]


def ref_conv3(x: jax.Array, w: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(
        x,
        w,
        (1, 1, 1),
        "VALID",
        dimension_numbers=("NDHWC", "DHWIO", "NDHWC"),
        precision=lax.Precision.HIGHEST,
    )


def make3(case: tuple[int, ...], seed: int = 0) -> tuple[jax.Array, jax.Array]:
    n, d, h, wd, cin, cout = case
    x = normal(2 * seed, (n, d, h, wd, cin))
    w = normal(2 * seed + 1, (3, 3, 3, cin, cout), 1 / np.sqrt(27 * cin))
    return x, w


@pytest.mark.parametrize("impl", IMPLS_3D)
@pytest.mark.parametrize("case", CASES_3D, ids=lambda c: "x".join(map(str, c)))
def test_values_and_grads_3d(impl: str, case: tuple[int, ...]) -> None:
    x, w = make3(case)
    n, d, h, wd, _, cout = case
    proj = projection(case)

    def ours(a, b):
        return conv3x3x3_valid(a, b, impl)

    out = jax.jit(ours)(x, w)
    assert out.shape == (n, d - 2, h - 2, wd - 2, cout) and out.dtype == jnp.float32
    assert_close(out, reference("values", case)[0])
    got = jax.jit(jax.grad(lambda x, w: tanh_loss(ours, x, w, proj), (0, 1)))(x, w)
    want = reference("grads", case)
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])


@pytest.mark.parametrize("impl", ["rows", "planes"])
def test_grad_of_grad_3d(impl: str) -> None:
    """The WGAN-GP penalty of a 2-layer 3-D critic: second derivatives through every form."""
    case = (1, 7, 6, 7, 4, 6)
    x, w1 = make3(case, seed=1)
    w2 = second_layer(case)

    def conv(a, b):
        return conv3x3x3_valid(a, b, impl)

    got = jax.jit(jax.grad(lambda w1, w2: gradient_penalty(conv, x, w1, w2), (0, 1)))(w1, w2)
    want = reference("gog", case, seed=1)
    assert float(np.abs(want[0]).max()) > 0
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])


@pytest.mark.parametrize(
    "x_shape, w_shape, match",
    [
        ((1, 8, 8, 3), (3, 3, 3, 3, 4), "rank 5"),  # an image given to the volume conv
        ((1, 8, 8, 8, 3), (3, 3, 3, 4), "3x3x3 DHWIO"),  # a 2-D kernel
        ((1, 8, 8, 8, 3), (3, 3, 3, 2, 4), "Cin=2"),
        ((1, 2, 8, 8, 3), (3, 3, 3, 3, 4), ">= 3"),
    ],
)
def test_bad_shapes_3d(x_shape, w_shape, match) -> None:
    with pytest.raises(ValueError, match=match):
        conv3x3x3_valid(jnp.zeros(x_shape), jnp.zeros(w_shape))


def test_winograd_has_no_3d_form() -> None:
    with pytest.raises(ValueError, match="no 3-D form"):
        conv3x3x3_valid(jnp.zeros((1, 5, 5, 5, 2)), jnp.zeros((3, 3, 3, 2, 2)), impl="winograd")


def test_auto_rule_3d() -> None:
    assert select_impl_3d((1, 64, 64, 64, 3), (3, 3, 3, 3, 32)) == "planes"
    assert select_impl_3d((1, 64, 64, 64, 32), (3, 3, 3, 32, 1)) == "rows"
    assert select_impl_3d((1, 64, 64, 64, 32), (3, 3, 3, 32, 32)) == "planes"


# "auto" is not compiled above: it must be exactly the form its rule names, which tracing
# shows without compiling anything (the named forms are checked against XLA's convolution
# above, to the second derivative).


def _programs(conv, x_shape, w_shape) -> list[str]:
    """The jaxprs of a convolution, its gradient, and a gradient-penalty-like second
    derivative, traced on abstract arrays of these shapes."""
    x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in (x_shape, w_shape))

    def critic(x, w):
        return jnp.sum(jnp.tanh(conv(x, w)))

    def penalty(w, x):
        return jnp.mean(jax.grad(critic)(x, w) ** 2)

    return [
        str(jax.make_jaxpr(f)(a, b))
        for f, a, b in ((conv, x, w), (jax.grad(critic, (0, 1)), x, w), (jax.grad(penalty), w, x))
    ]


@pytest.mark.parametrize(
    "case", CASES + [(1, 186, 248, 128, 128)], ids=lambda c: "x".join(map(str, c))
)
def test_auto_is_the_form_its_rule_names(case: tuple[int, ...]) -> None:
    x_shape, w_shape = case[:4], (3, 3, *case[3:])
    named = select_impl(x_shape, w_shape)
    assert named in IMPLS
    assert _programs(lambda x, w: conv3x3_valid(x, w, "auto"), x_shape, w_shape) == _programs(
        lambda x, w: conv3x3_valid(x, w, named), x_shape, w_shape
    )


@pytest.mark.parametrize("case", CASES_3D, ids=lambda c: "x".join(map(str, c)))
def test_auto_is_the_form_its_rule_names_3d(case: tuple[int, ...]) -> None:
    x_shape, w_shape = case[:5], (3, 3, 3, *case[4:])
    named = select_impl_3d(x_shape, w_shape)
    assert named in IMPLS_3D
    assert _programs(lambda x, w: conv3x3x3_valid(x, w, "auto"), x_shape, w_shape) == _programs(
        lambda x, w: conv3x3x3_valid(x, w, named), x_shape, w_shape
    )
