import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_augment.engine.config import ModelConfig
from singan_augment.engine.networks import (
    discriminator_apply,
    generator_apply,
    init_discriminator,
    init_generator,
)

CFG = ModelConfig(conv_impl="xla")


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_generator_shapes_and_residual(channels):
    params, stats = init_generator(jax.random.PRNGKey(0), channels, 8, CFG)
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 30, 34, channels))
    prev = jnp.zeros_like(z)
    out, new_stats = generator_apply(params, stats, z, prev, train=True, config=CFG)
    assert out.shape == (2, 20, 24, channels)
    assert float(jnp.abs(out).max()) <= 1.0  # tanh + zero prev
    assert len(new_stats) == 4
    # Running averages moved towards the batch statistics (momentum 0.1).
    assert not np.allclose(new_stats[0]["mean"], stats[0]["mean"])


def test_train_mode_uses_batch_statistics():
    params, stats = init_generator(jax.random.PRNGKey(0), 3, 8, CFG)
    z = 5.0 + 3.0 * jax.random.normal(jax.random.PRNGKey(1), (1, 25, 25, 3))
    a, _ = generator_apply(params, stats, z, jnp.zeros_like(z), train=True, config=CFG)
    b, _ = generator_apply(params, stats, z + 100.0, jnp.zeros_like(z), train=True, config=CFG)
    # With batch statistics, a constant shift of the input is normalised away after layer 1.
    np.testing.assert_allclose(a, b, atol=1e-3)
    c, _ = generator_apply(params, stats, z + 100.0, jnp.zeros_like(z), train=False, config=CFG)
    assert not np.allclose(a, c, atol=1e-2)  # eval mode uses running averages


def test_init_statistics():
    params, stats = init_generator(jax.random.PRNGKey(0), 3, 64, CFG)
    w = np.concatenate([np.ravel(layer["w"]) for layer in params["layers"]])
    assert abs(w.std() - 0.02) < 0.002
    gam = np.concatenate([np.ravel(layer["gamma"]) for layer in params["layers"][:-1]])
    assert abs(gam.mean() - 1.0) < 0.01
    assert all(np.all(layer["beta"] == 0) for layer in params["layers"][:-1])


def test_discriminator_shape():
    params, _ = init_discriminator(jax.random.PRNGKey(0), 2, 8, CFG)
    out = discriminator_apply(params, jnp.ones((1, 25, 30, 2)), config=CFG)
    assert out.shape == (1, 15, 20, 1)
