"""Does bf16 (avx512_bf16) pay on this CPU? Issue 12, candidate 3, measured before any quality run.

A candidate precision change is worth a quality run only if it makes a training step faster.
This probe times, side by side and interleaved, the work one 3x3 convolution does in a SinGAN
training step (forward, backward, and the WGAN-GP grad-of-grad) at the finest scales' sizes,
with the engine's ``rows`` matmul formulation in float32 against the same formulation with
bfloat16 operands and float32 accumulation:

* ``bf16 autodiff``: bf16 casts around the forward matmul, backward from JAX's transpose;
* ``bf16 all dots``: a custom VJP whose backward matmuls are bf16 too (still differentiable,
  so grad-of-grad also runs in bf16).

It also times a bare matmul of the same shape (f32 against bf16 with f32 accumulation).

    python benchmarks/bf16_probe.py
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from singan_augment.engine import conv

F32 = jnp.float32
BF16 = jnp.bfloat16


def _dot16(a, b):
    return lax.dot_general(
        a.astype(BF16), b.astype(BF16), (((1,), (0,)), ((), ())), preferred_element_type=F32
    )


@jax.custom_vjp
def _dot16_all(a, b):
    return _dot16(a, b)


def _fwd(a, b):
    return _dot16(a, b), (a, b)


def _bwd(res, g):
    a, b = res
    return _dot16_all(g, b.T), _dot16_all(a.T, g)


_dot16_all.defvjp(_fwd, _bwd)


def rows_with(dot):
    def rows(x, w):
        n, h, wd, cin = x.shape
        cout = w.shape[3]
        xf, length = conv._flatten(x)
        l3 = length + 2 * wd
        x3 = jnp.concatenate([xf[j : j + l3] for j in range(3)], axis=-1)
        w3 = jnp.transpose(w, (1, 2, 0, 3)).reshape(3 * cin, 3 * cout)
        y = dot(x3, w3).reshape(l3, 3, cout)
        out = y[0:length, 0] + y[wd : wd + length, 1] + y[2 * wd : 2 * wd + length, 2]
        return conv._unflatten(out, n, h, wd)

    return rows


def step(fn):
    """grad wrt (x, w) of a loss with a gradient penalty: the shape of a WGAN-GP step."""

    def loss(x, w):
        g = jax.grad(lambda x_: jnp.sum(fn(x_, w) ** 2))(x)
        return jnp.sum(fn(x, w) ** 2) + jnp.sum(g**2)

    return jax.jit(jax.grad(loss, argnums=(0, 1)))


def median_s(f, *args, n=10):
    jax.block_until_ready(f(*args))
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main() -> int:
    key = jax.random.PRNGKey(0)
    variants = {
        "f32 (engine rows)": step(conv._rows),
        "bf16 autodiff": step(rows_with(_dot16)),
        "bf16 all dots": step(rows_with(_dot16_all)),
    }
    print(f"{'size':>14} {'variant':>18} {'ms':>8} {'f32 / this':>10} {'max rel err':>11}")
    for h, w, c in [(106, 130, 64), (83, 103, 64)]:
        x = jax.random.normal(key, (1, h, w, c))
        k = 0.05 * jax.random.normal(key, (3, 3, c, c))
        times = {name: [] for name in variants}
        for _ in range(3):  # interleaved repetitions
            for name, f in variants.items():
                times[name].append(median_s(f, x, k))
        ref = variants["f32 (engine rows)"](x, k)[1]
        base = np.median(times["f32 (engine rows)"])
        for name, f in variants.items():
            t = np.median(times[name])
            err = float(jnp.abs(f(x, k)[1] - ref).max() / jnp.abs(ref).max())
            print(f"{f'{h}x{w}x{c}':>14} {name:>18} {t * 1e3:8.1f} {base / t:10.2f} {err:11.1e}")
    a = jax.random.normal(key, (13312, 192))
    b = jax.random.normal(key, (192, 192))
    mm32 = jax.jit(lambda a, b: a @ b)
    mm16 = jax.jit(_dot16)
    t32 = np.median([median_s(mm32, a, b) for _ in range(3)])
    t16 = np.median([median_s(mm16, a, b) for _ in range(3)])
    print(
        f"bare matmul 13312x192 @ 192x192: f32 {t32 * 1e3:.2f} ms, bf16 {t16 * 1e3:.2f} ms, "
        f"ratio {t32 / t16:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
