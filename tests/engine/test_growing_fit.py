"""Training and sampling the growing generator (engine.growing_fit): one iteration against the
PyTorch twin, determinism, resume, sampling's start scales, errors, and training that helps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from singan_augment.engine.config import GrowingConfig, ModelConfig, TrainConfig
from singan_augment.engine.growing import grow, init_growing, join_trainable, split_trainable
from singan_augment.engine.growing_fit import (
    GrowingConsts,
    GrowingState,
    fit_growing,
    growing_generator_loss,
    iteration_draws,
    make_growing_iteration,
    optimizers,
    reconstruct,
    sample_growing,
)
from singan_augment.engine.networks import init_discriminator
from singan_augment.errors import InputError
from singan_augment.testing import (
    fit_tiny_growing,
    tiny_growing_image,
)
from singan_augment.testing import torch_reference as tr
from singan_augment.testing.torch_growing import (
    GrowingGenerator,
    GrowingTrainer,
    growing_to_jax,
    load_growing_jax,
)

C = 3
SHAPES = ((14, 16), (18, 21), (23, 27))
# the twin tests: ConSinGAN's three convs a stage, XLA's convolution (the smallest program)
GCFG = GrowingConfig(width=8, conv_impl="xla")
MCFG = ModelConfig(nfc_init=8, conv_impl="xla")


def t(x) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


LOSS_AND_GRADS = jax.jit(
    jax.value_and_grad(growing_generator_loss, has_aux=True), static_argnums=(8, 9, 10)
)


def setup(stage, depth, **train):
    """A grown, perturbed generator of ``stage + 1`` stages, a critic, a real image and
    ``z_opt``; the engine's state and consts; the twin trainer on the same weights."""
    tcfg = TrainConfig(concurrent_stages=depth, **train)
    shapes = SHAPES[: stage + 1]
    params = init_growing(jax.random.PRNGKey(0), C, GCFG)
    for _ in range(stage):
        params = grow(params)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(5), len(leaves))
    params = jax.tree.unflatten(
        tree, [x + 0.05 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
    )
    critic = init_discriminator(jax.random.PRNGKey(1), C, 8, MCFG)[0]
    real = jax.random.uniform(jax.random.PRNGKey(2), (1, *shapes[-1], C), minval=-1, maxval=1)
    z_opt = jax.random.normal(jax.random.PRNGKey(3), (1, *shapes[0], C))
    amps = [1.0, 0.2, 0.1][: stage + 1]
    groups, frozen = split_trainable(params, stage, depth)
    g_tx, d_tx = optimizers(stage, tcfg, 1000)
    state = GrowingState(groups, critic, g_tx.init(groups), d_tx.init(critic))
    consts = GrowingConsts(real, z_opt, jnp.asarray(amps), frozen, jnp.asarray(10.0))
    G = load_growing_jax(
        GrowingGenerator(C, GCFG.width, GCFG.stage_layers, GCFG.leaky_slope), params
    )
    D = tr.load_jax(tr.Discriminator(C, 8), critic)
    twin = GrowingTrainer(
        G, D, t(real), t(z_opt), amps, shapes, depth=depth,
        d_steps=tcfg.d_steps, g_steps=tcfg.g_steps,
    )  # fmt: skip
    return tcfg, shapes, params, state, consts, twin


def twin_grads(G) -> dict:
    def layer(conv):
        if conv.weight.grad is None:
            return None
        return {"w": conv.weight.grad.numpy().transpose(2, 3, 1, 0), "b": conv.bias.grad.numpy()}

    return {
        "head": layer(G.head),
        "stages": tuple(tuple(layer(c) for c in s) for s in G.stages),
        "tail": layer(G.tail),
    }


@pytest.mark.parametrize("stage, depth", [(1, 3), (2, 2)])
def test_generator_loss_and_gradients_equal_the_twin(stage, depth):
    """The generator's loss and its gradient for every trained group (head, stages, tail)
    equal PyTorch autograd's; the frozen stages get none."""
    tcfg, shapes, params, state, consts, twin = setup(stage, depth)
    noises, _ = iteration_draws(jax.random.PRNGKey(9), shapes, C, GCFG, True, 3)
    rec_noises = [consts.z_opt, *(jnp.zeros_like(z) for z in noises[1:])]
    amps = [float(a) for a in consts.amps]
    (loss, terms), grads = LOSS_AND_GRADS(
        state.groups, consts.frozen, state.d_params, noises, rec_noises, amps, consts.real,
        10.0, tuple(shapes), GCFG, MCFG,
    )  # fmt: skip
    G, D = twin.G, twin.D
    adv = -D(G([t(z) for z in noises], amps, shapes)).mean()
    rec = torch.nn.functional.mse_loss(G(twin.rec_noises(), amps, shapes), twin.real)
    (adv + 10.0 * rec).backward()
    np.testing.assert_allclose(float(loss), (adv + 10 * rec).item(), rtol=1e-5)
    np.testing.assert_allclose(float(terms["rec"]), rec.item(), rtol=1e-5)
    ours = join_trainable(grads, jax.tree.map(lambda x: None, consts.frozen))
    theirs = twin_grads(G)
    first = max(0, stage - depth + 1)
    assert all(layer is None for s in theirs["stages"][:first] for layer in s)
    assert (theirs["head"] is None) == (first > 0)
    for name in ("head", "tail"):
        if theirs[name] is not None:
            for k in ("w", "b"):
                np.testing.assert_allclose(ours[name][k], theirs[name][k], rtol=1e-4, atol=1e-5)
    for j in range(first, stage + 1):
        for a, b in zip(ours["stages"][j], theirs["stages"][j]):
            for k in ("w", "b"):
                np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5, err_msg=f"{j}{k}")


def test_an_iteration_follows_the_twin():
    """One iteration (one critic step, one generator step; the same noise and penalty weight):
    the critic's losses agree tightly; the trained weights agree for 95 % of their elements
    and no element is off by more than one Adam step's sign flip (2 lr).

    Adam's first step is ~lr * sign(g) per element, so an element whose gradient is near
    rounding level moves the other way in one framework (as in
    tests/engine/test_equivalence.py's whole-iteration test); the critic's pre-BN biases,
    whose true gradient is 0, are left out for that reason."""
    tcfg, shapes, params, state, consts, twin = setup(1, 3, d_steps=1, g_steps=1)
    step = make_growing_iteration(1, shapes, C, GCFG, MCFG, tcfg)
    key = jax.random.PRNGKey(10)
    state, metrics = step(state, consts, key)
    noises, alphas = iteration_draws(key, shapes, C, GCFG, True, tcfg.d_steps)
    terms = twin.iteration([t(z) for z in noises], np.asarray(alphas))
    for name in ("d_real", "d_fake", "gp", "d_total"):
        np.testing.assert_allclose(float(metrics[name]), terms[name], 1e-4, 1e-5, err_msg=name)
    np.testing.assert_allclose(float(metrics["rec"]), terms["rec"], rtol=1e-4)
    ours = jax.tree.leaves(join_trainable(state.groups, consts.frozen))
    theirs = jax.tree.leaves(growing_to_jax(twin.G))
    d_ours, d_theirs = state.d_params["layers"], tr.to_jax_layout(twin.D)["layers"]
    for layer_o, layer_t in zip(d_ours, d_theirs):
        keys = ("w",) if "gamma" in layer_o else ("w", "b")
        ours += [layer_o[k] for k in keys]
        theirs += [layer_t[k] for k in keys]
    diff = np.concatenate([np.ravel(np.abs(np.asarray(a) - b)) for a, b in zip(ours, theirs)])
    scale = np.concatenate([np.ravel(np.abs(b)) for b in theirs])
    assert np.mean(diff > 1e-5 + 1e-4 * scale) < 0.05
    assert diff.max() <= 2 * tcfg.lr_g * 1.001
    moved = np.concatenate([np.ravel(np.abs(np.asarray(a) - np.asarray(b)))
                            for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(join_trainable(state.groups, consts.frozen)))])  # fmt: skip
    assert moved.max() > 0.5 * tcfg.lr_g


def fit_tiny(seed=0, iters=6, **kw):
    return fit_tiny_growing(seed, iters, **kw)


@pytest.fixture
def tiny(tiny_growing):
    return tiny_growing


def test_the_pyramid_and_amplitudes(tiny):
    assert tiny.complete and tiny.num_trained == len(tiny.shapes) == 3
    assert tiny.shapes[-1] == (23, 27) and tiny.shapes[0][0] == 14
    assert tiny.amps[0] == 1.0 and all(0 < a < 1 for a in tiny.amps[1:])


def test_training_is_seeded(tiny):
    """Another seed trains other weights. (The same seed trains the same ones: the resume
    test below retrains the first two stages and ends at exactly this model.)"""
    other = fit_tiny(seed=1)
    assert any(
        not np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(jax.tree.leaves(tiny.params), jax.tree.leaves(other.params))
    )


def test_resume_from_a_saved_stage_equals_the_uninterrupted_run(tiny, tmp_path):
    from singan_augment.files.growing_files import load_growing, save_growing

    def stop_after_stage_1(model, stage, summary):
        assert summary["iters_run"] == 6 and summary["rec_rmse"] > 0
        if stage == 1:
            save_growing(model, tmp_path)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_tiny(on_stage_done=stop_after_stage_1)
    partial = load_growing(tmp_path)
    assert partial.num_trained == 2 and not partial.complete
    resumed = fit_tiny(resume=partial)
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(tiny.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert resumed.amps == tiny.amps
    with pytest.raises(InputError, match="resume"):
        fit_tiny(seed=1, resume=partial)


def test_samples_shapes_range_and_independence_of_batching(tiny):
    x = sample_growing(tiny, 7, 4, start_scale=0, batch=4)
    assert x.shape == (4, C, 23, 27)
    lo, hi = np.asarray(tiny.spec.low), np.asarray(tiny.spec.high)
    assert np.all(x >= lo[:, None, None] - 1e-5) and np.all(x <= hi[:, None, None] + 1e-5)
    # in batches of 2, samples 2 and 3 sit first and second in their batch: the same samples
    np.testing.assert_allclose(sample_growing(tiny, 7, 4, batch=2), x, atol=1e-6)
    assert not np.allclose(x[0], x[1])
    assert not np.allclose(sample_growing(tiny, 8, 2, batch=2), x[:2])


@pytest.mark.parametrize("start", [1, 2])
def test_a_start_scale_keeps_the_reconstruction_below_it(tiny, start):
    """With no noise from ``start`` on, every sample is the reconstruction: the stages below
    ``start`` take the reconstruction input, whatever the seed."""
    quiet = tiny._replace(amps=tuple(a if k < start else 0.0 for k, a in enumerate(tiny.amps)))
    rec = np.moveaxis(np.asarray(reconstruct(quiet, quiet.params, 3))[0], -1, 0)
    x = sample_growing(quiet, 3, 2, start_scale=start)
    np.testing.assert_allclose(x[0], tiny.spec.denormalise(rec), atol=1e-5)
    np.testing.assert_allclose(x[1], x[0], atol=1e-6)
    # with the noise back, samples differ from it
    y = sample_growing(tiny, 3, 2, start_scale=start)
    assert np.abs(y[0] - x[0]).max() > 1e-4


def test_more_iterations_reconstruct_better():
    rmse = {}
    for iters in (2, 40):
        done: dict[int, float] = {}
        fit_tiny(iters=iters, on_stage_done=lambda m, k, s, d=done: d.update({k: s["rec_rmse"]}))
        rmse[iters] = done[2]
    assert rmse[40] < 0.8 * rmse[2]


def test_bad_arguments_raise_input_errors(tiny):
    with pytest.raises(InputError, match="start_scale"):
        sample_growing(tiny, 0, 2, start_scale=3)
    with pytest.raises(InputError, match="n must"):
        sample_growing(tiny, 0, 0)
    with pytest.raises(InputError, match="1 of 3 stages"):
        sample_growing(tiny._replace(amps=tiny.amps[:1]), 0, 1)
    with pytest.raises(InputError, match="seed"):
        fit_tiny(seed=1.5)
    with pytest.raises(InputError, match="concurrent_stages"):
        fit_growing(
            tiny_growing_image(), 0, train_config=TrainConfig(concurrent_stages=0), progress=False
        )
