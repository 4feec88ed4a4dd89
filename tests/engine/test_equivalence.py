"""The JAX engine against an independent PyTorch SinGAN (singan_augment.testing.torch_reference).

With the same weights, noise, prev images, GP alpha and real image, both must compute the
same D loss terms and gradients, G loss terms and gradients, BN running averages, Adam
updates and a whole training iteration (3 D steps + 3 G steps, randomness injected).
Parametrised over XLA's convolution and the "auto" formulations (see IMPLS).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from singan_augment.engine.config import ModelConfig, TrainConfig
from singan_augment.engine.generate import Stage, draw_noise
from singan_augment.engine.losses import (
    chain_generator_loss,
    discriminator_loss,
    generator_loss,
)
from singan_augment.engine.networks import generator_apply, init_discriminator, init_generator
from singan_augment.engine.scales import pad
from singan_augment.engine.train import (
    init_state,
    make_iteration,
    make_optimizer,
    random_prev,
    scale_consts,
)
from singan_augment.testing import torch_reference as tr

C, H, W, NFC = 3, 27, 31, 16
P = 5
RTOL, ATOL = 1e-4, 1e-5
# Gradients through the gradient penalty (double backward) and BN accumulate more rounding.
GRAD_RTOL, GRAD_ATOL = 2e-4, 2e-5


# The nets are checked against torch through XLA's own convolution and through "auto" (which
# picks im2col / taps / rows at these sizes). Every other formulation equals XLA's convolution
# in values, gradients and grad-of-grad (tests/engine/test_conv.py), which is all a loss and
# its gradients are built from, so running these nets once per formulation (about 150 s of
# compilation) checked nothing more and was dropped.
IMPLS = ["xla", "auto"]
# A whole iteration composes those nets with the optimiser, noise and schedule logic, which no
# formulation changes: it runs once, through "auto", the form users train with.
WHOLE_ITERATION_IMPLS = ["auto"]

# The losses and their gradients compiled as one function each, as the training step compiles
# them, rather than run op by op (which compiles every operation of the double backward
# separately, several times the compile time).
D_LOSS_AND_GRADS = jax.jit(jax.value_and_grad(discriminator_loss, has_aux=True), static_argnums=5)
G_LOSS_AND_GRADS = jax.jit(jax.value_and_grad(generator_loss, has_aux=True), static_argnums=9)


def t(x) -> torch.Tensor:
    """NHWC jax/numpy -> NCHW torch (a copy)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def assert_tree_close(actual, expected, rtol=RTOL, atol=ATOL):
    a_leaves, a_def = jax.tree.flatten(actual)
    e_leaves, e_def = jax.tree.flatten(expected)
    assert a_def == e_def, (a_def, e_def)
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        np.testing.assert_allclose(
            np.asarray(a), np.asarray(e), rtol=rtol, atol=atol, err_msg=str(i)
        )


def assert_terms_close(jax_terms, torch_terms, rtol=RTOL, atol=ATOL):
    assert set(jax_terms) == set(torch_terms)
    for k in jax_terms:
        theirs = torch_terms[k]
        theirs = theirs.detach() if isinstance(theirs, torch.Tensor) else theirs
        np.testing.assert_allclose(
            float(jax_terms[k]), float(theirs), rtol=rtol, atol=atol, err_msg=k
        )


def make_data() -> dict:
    ks = jax.random.split(jax.random.PRNGKey(42), 8)
    yy, xx = jnp.mgrid[0:H, 0:W]
    real = jnp.stack([jnp.sin(xx / (2.0 + c) + yy / (3.0 + c)) for c in range(C)], -1)[None]
    real = 0.8 * real + 0.1 * jax.random.normal(ks[0], real.shape)
    prev = 0.5 * jnp.tanh(jax.random.normal(ks[1], real.shape))
    rec_prev = 0.5 * jnp.tanh(jax.random.normal(ks[2], real.shape))
    noise = jax.random.normal(ks[3], real.shape)
    z_opt = jax.random.normal(ks[4], real.shape)
    amp = 0.3
    return {
        "real": real,
        "fake": jnp.tanh(jax.random.normal(ks[5], real.shape)),
        "prev_p": pad(prev, P),
        "fake_in": pad(amp * noise, P) + pad(prev, P),
        "rec_prev_p": pad(rec_prev, P),
        "rec_in": pad(amp * z_opt, P) + pad(rec_prev, P),
        "alpha": jnp.float32(0.37),
        "g": init_generator(ks[6], C, NFC, ModelConfig()),
        "d": init_discriminator(ks[7], C, NFC, ModelConfig())[0],
    }


@pytest.fixture(scope="module")
def data():
    return make_data()


def torch_nets(data):
    g_params, g_stats = data["g"]
    G = tr.load_jax(tr.Generator(C, NFC), g_params, g_stats).train()
    D = tr.load_jax(tr.Discriminator(C, NFC), data["d"]).train()
    return G, D


@pytest.mark.parametrize("impl", IMPLS)
def test_discriminator_loss_and_grads(data, impl):
    mcfg = ModelConfig(conv_impl=impl)
    (loss, terms), grads = D_LOSS_AND_GRADS(
        data["d"], data["real"], data["fake"], data["alpha"], 0.1, mcfg
    )
    _, D = torch_nets(data)
    t_loss, t_terms = tr.discriminator_loss(D, t(data["real"]), t(data["fake"]), 0.37, 0.1)
    t_loss.backward()
    assert_terms_close(terms, t_terms)
    assert_tree_close(grads, tr.to_jax_layout(D, grads=True), GRAD_RTOL, GRAD_ATOL)


@pytest.mark.parametrize("impl", IMPLS)
def test_generator_loss_grads_and_running_stats(data, impl):
    mcfg = ModelConfig(conv_impl=impl)
    g_params, g_stats = data["g"]
    (loss, (terms, new_stats)), grads = G_LOSS_AND_GRADS(
        g_params,
        g_stats,
        data["d"],
        data["fake_in"],
        data["prev_p"],
        data["rec_in"],
        data["rec_prev_p"],
        data["real"],
        10.0,
        mcfg,
    )
    G, D = torch_nets(data)
    D.requires_grad_(False)
    t_loss, t_terms = tr.generator_loss(
        G,
        D,
        t(data["fake_in"]),
        t(data["prev_p"]),
        t(data["rec_in"]),
        t(data["rec_prev_p"]),
        t(data["real"]),
        10.0,
    )
    t_loss.backward()
    assert_terms_close(terms, t_terms)
    assert_tree_close(grads, tr.to_jax_layout(G, grads=True), GRAD_RTOL, GRAD_ATOL)
    # Running averages after two train-mode forwards (random input, then reconstruction).
    assert_tree_close(new_stats, tr.running_stats(G))


@pytest.mark.parametrize("impl", IMPLS)
def test_generator_forward_and_running_stats(data, impl):
    mcfg = ModelConfig(conv_impl=impl)
    g_params, g_stats = data["g"]
    for train in (True, False):
        G, _ = torch_nets(data)
        out, new_stats = generator_apply(
            g_params, g_stats, data["fake_in"], data["prev_p"], train=train, config=mcfg
        )
        G.train(train)
        with torch.no_grad():
            t_out = G(t(data["fake_in"]), t(data["prev_p"]))
        np.testing.assert_allclose(np.asarray(out), t_out.numpy().transpose(0, 2, 3, 1), RTOL, ATOL)
        assert_tree_close(new_stats, tr.running_stats(G))


def test_adam_steps_match():
    """Two Adam steps on the same gradients, then the lr drop (optax schedule vs MultiStepLR)."""
    tcfg = TrainConfig(iters=2)  # lr drops at iteration round(0.8 * 2) = 2
    params, _ = init_generator(jax.random.PRNGKey(0), C, NFC, ModelConfig())
    tx = make_optimizer(tcfg, tcfg.lr_g, 1)
    opt = tx.init(params)
    G = tr.load_jax(tr.Generator(C, NFC), params)
    t_opt = torch.optim.Adam(G.parameters(), lr=tcfg.lr_g, betas=(tcfg.beta1, tcfg.beta2))
    sched = torch.optim.lr_scheduler.MultiStepLR(t_opt, [tcfg.lr_drop_iter], gamma=0.1)
    convs, bns = tr.convs_and_bns(G)
    update = jax.jit(tx.update)
    for step in range(4):
        rng = np.random.default_rng(step + 1)
        grads = jax.tree.map(
            lambda x, rng=rng: jnp.asarray(0.1 * rng.standard_normal(x.shape, np.float32)), params
        )
        updates, opt = update(grads, opt, params)
        params = jax.tree.map(lambda p, u: p + u, params, updates)
        for i, conv in enumerate(convs):
            conv.weight.grad = torch.from_numpy(
                np.ascontiguousarray(np.asarray(grads["layers"][i]["w"]).transpose(3, 2, 0, 1))
            )
            conv.bias.grad = torch.from_numpy(np.asarray(grads["layers"][i]["b"]))
        for i, bn in enumerate(bns):
            bn.weight.grad = torch.from_numpy(np.asarray(grads["layers"][i]["gamma"]))
            bn.bias.grad = torch.from_numpy(np.asarray(grads["layers"][i]["beta"]))
        t_opt.step()
        sched.step()
        assert_tree_close(params, tr.to_jax_layout(G), 1e-5, 1e-7)


def _injected_randomness(key, consts, shapes, mcfg, tcfg, scale):
    """The noise, prevs and alphas that ``make_iteration``'s step draws from ``key``."""
    k_noise, k_steps = jax.random.split(key)
    shared = tcfg.coarsest_noise == "shared"
    noise = draw_noise(k_noise, 1, shapes[scale], C, shared and scale == 0)
    prevs, alphas = [], []
    for k in jax.random.split(k_steps, tcfg.d_steps):
        k_prev, k_alpha = jax.random.split(k)
        prevs.append(random_prev(consts.frozen, shapes, k_prev, C, shared, mcfg))
        alphas.append(float(jax.random.uniform(k_alpha, (), jnp.float32)))
    return noise, prevs, alphas


@pytest.mark.parametrize(
    "impl, gp_every", [(impl, 1) for impl in WHOLE_ITERATION_IMPLS] + [("auto", 3)]
)
def test_whole_iteration_matches(data, impl, gp_every):
    """Two iterations of ``make_iteration`` at scale 1 (a frozen scale 0 below it) against the
    torch trainer fed the same noise, random prevs and alphas; lr drops before the second.
    ``gp_every=3``: the lazy penalty (on the first of the three D steps, weighted 3x) in both.

    Adam divides each gradient element by its own RMS, so its first steps are ~lr * sign(g):
    an element whose gradient is at rounding level (every pre-BN conv bias, whose true
    gradient is exactly 0, and the odd weight near 0) moves by an O(lr) different amount in
    the two frameworks. The losses are therefore compared tightly after the first D steps and
    loosely after that, and the parameters elementwise for 95% of their elements (measured: ~1% off).
    """
    mcfg = ModelConfig(nfc_init=NFC, nfc_max=NFC, conv_impl=impl)
    tcfg = TrainConfig(iters=1, gp_every=gp_every)  # lr drop at iteration 1 (the second one)
    shapes = [(21, 23), (H, W)]
    g0 = init_generator(jax.random.PRNGKey(7), C, NFC, mcfg)
    stage0 = Stage(g0[0], g0[1], jnp.float32(1.0))
    z_opt0 = draw_noise(jax.random.PRNGKey(8), 1, shapes[0], C, True)
    consts = scale_consts(1, data["real"][0], [stage0], shapes, z_opt0, tcfg, mcfg)
    state = init_state(data["g"], data["d"], tcfg)

    G, D = torch_nets(data)
    frozen = [tr.FrozenStage(tr.load_jax(tr.Generator(C, NFC), *g0), 1.0, shapes[0])]
    trainer = tr.ScaleTrainer(
        G,
        D,
        t(consts.real),
        t(consts.z_opt),
        t(consts.rec_prev),
        float(consts.amp),
        frozen,
        iters=tcfg.iters,
        gp_every=gp_every,
    )
    iteration = make_iteration(1, shapes, C, mcfg, tcfg)
    for i in range(2):
        key = jax.random.PRNGKey(100 + i)
        noise, prevs, alphas = _injected_randomness(key, consts, shapes, mcfg, tcfg, 1)
        state, metrics = iteration(state, consts, key)
        t_metrics = trainer.iteration(t(noise), [t(p) for p in prevs], alphas)
        if i == 0:  # D's three steps saw the same G (G's steps come after them)
            d_terms = ("d_real", "d_fake", "gp", "d_total")
            assert_terms_close(
                {k: metrics[k] for k in d_terms}, {k: t_metrics[k] for k in d_terms}, 1e-4, 1e-5
            )
        assert_terms_close(metrics, t_metrics, 2e-2, 2e-3)
    for ours, theirs in ((state.g_params, G), (state.d_params, D)):
        ref = tr.to_jax_layout(theirs)
        for i, (a, e) in enumerate(zip(ours["layers"], ref["layers"])):
            for name in a:
                diff = np.abs(np.asarray(a[name]) - e[name])
                if name == "b" and "gamma" in a:  # pre-BN bias: no effect on any output
                    assert diff.max() < 6 * tcfg.lr_g, (i, name)
                    continue
                assert np.mean(diff > 1e-4 + 1e-3 * np.abs(e[name])) < 0.05, (i, name)
                assert diff.max() < 6 * tcfg.lr_g, (i, name)
    # The trained generators compute nearly the same images (eval mode, running averages).
    G.eval()
    with torch.no_grad():
        t_out = G(t(data["fake_in"]), t(data["prev_p"])).numpy().transpose(0, 2, 3, 1)
    out, _ = generator_apply(
        state.g_params, state.g_stats, data["fake_in"], data["prev_p"], train=False, config=mcfg
    )
    np.testing.assert_allclose(np.asarray(out), t_out, rtol=1e-2, atol=2e-3)


@pytest.mark.parametrize("clamp", [True, False])
def test_frozen_pyramid_forward_matches_with_and_without_clamp(clamp):
    """Three frozen scales run coarse to fine on the same noise: ``run_scales`` against the
    torch twin, whose resize clips to [-1, 1] like the reference's uint8 round trip. The
    generators are scaled so that their outputs leave [-1, 1], so the clamp changes the result
    (checked), and both frameworks must agree either way."""
    from singan_augment.engine.generate import run_scales

    mcfg = ModelConfig(nfc_init=NFC, nfc_max=NFC, conv_impl="xla", clamp=clamp)
    shapes = [(21, 23), (24, 27), (H, W)]
    stages, frozen, noises = [], [], []
    for n, shape in enumerate(shapes):
        params, stats = init_generator(jax.random.PRNGKey(20 + n), C, NFC, mcfg)
        last = params["layers"][-1]
        params["layers"][-1] = {**last, "w": last["w"] * 200.0}  # tanh saturates: |out| ~ 1
        amp = 1.0 if n == 0 else 0.5
        stages.append(Stage(params, stats, jnp.float32(amp)))
        G = tr.load_jax(tr.Generator(C, NFC), params, stats).eval()
        frozen.append(tr.FrozenStage(G, amp, shape))
        noises.append(draw_noise(jax.random.PRNGKey(30 + n), 1, shape, C, n == 0))
    ours = np.asarray(run_scales(stages, shapes, noises, None, mcfg))
    with torch.no_grad():
        theirs = tr.run_frozen(frozen, C, True, [t(z) for z in noises], clamp=clamp)
    np.testing.assert_allclose(ours, theirs.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    other = run_scales(
        stages, shapes, noises, None, ModelConfig(**{**mcfg.to_dict(), "clamp": not clamp})
    )
    assert np.abs(ours - np.asarray(other)).max() > 1e-2  # the clamp mattered


# --- concurrent stages (TrainConfig.concurrent_stages): generators trained together --------

CHAIN_SHAPES = [(21, 23), (H, W)]


def test_one_generator_chain_loss_is_the_published_loss(data):
    """``chain_generator_loss`` with one generator computes ``generator_loss`` exactly."""
    mcfg = ModelConfig()
    g_params, g_stats = data["g"]
    amp = 0.3
    noise = (data["fake_in"] - data["prev_p"]) / amp  # unpadded below
    z_opt_p = (data["rec_in"] - data["rec_prev_p"]) / amp
    chain = jax.jit(chain_generator_loss, static_argnums=(9, 10))(
        (g_params,),
        (g_stats,),
        data["d"],
        data["prev_p"][:, P:-P, P:-P],
        (amp * noise,),
        data["rec_prev_p"][:, P:-P, P:-P],
        (amp * z_opt_p,),
        data["real"],
        10.0,
        ((H, W),),
        mcfg,
    )
    plain = jax.jit(generator_loss, static_argnums=9)(*_generator_loss_args(data), 10.0, mcfg)
    np.testing.assert_allclose(float(chain[0]), float(plain[0]), rtol=1e-6)
    assert_tree_close(chain[1][1][0], plain[1][1], 1e-6, 1e-7)


def _generator_loss_args(data):
    g_params, g_stats = data["g"]
    args = ("fake_in", "prev_p", "rec_in", "rec_prev_p", "real")
    return (g_params, g_stats, data["d"], *(data[k] for k in args))


# The concurrent tests use three-layer nets: every code path of the five-layer ones (conv + BN
# + LeakyReLU blocks, the output conv), a chain of them compiles in about half the time.
CHAIN_LAYERS = 3


def _chain_nets(mcfg):
    """Two generators (scales 0 and 1 of CHAIN_SHAPES), their torch twins, amplitudes, and a
    critic with its twin."""
    gens = [init_generator(jax.random.PRNGKey(50 + j), C, NFC, mcfg) for j in range(2)]
    twins = [tr.load_jax(tr.Generator(C, NFC, CHAIN_LAYERS), *g).train() for g in gens]
    d = init_discriminator(jax.random.PRNGKey(59), C, NFC, mcfg)[0]
    return gens, twins, [1.0, 0.4], d, tr.load_jax(tr.Discriminator(C, NFC, CHAIN_LAYERS), d)


def test_chain_generator_loss_grads_and_running_stats_match():
    """Two generators trained together: the loss terms, the gradients of both generators and
    their BN running averages against the torch twin's ``chain_generator_loss`` (random path
    from a prev image, reconstruction path from z_opt at the first generator, a resize and
    clamp between them)."""
    mcfg = ModelConfig(conv_impl="auto", num_layers=CHAIN_LAYERS)
    gens, twins, amps, d, D = _chain_nets(mcfg)
    p = mcfg.pad
    ks = jax.random.split(jax.random.PRNGKey(60), 5)
    fake_prev = 0.5 * jnp.tanh(jax.random.normal(ks[0], (1, *CHAIN_SHAPES[0], C)))
    rec_prev = 0.5 * jnp.tanh(jax.random.normal(ks[1], (1, *CHAIN_SHAPES[0], C)))
    noises = [jax.random.normal(k, (1, *s, C)) for k, s in zip(ks[2:4], CHAIN_SHAPES)]
    z_opt = jax.random.normal(ks[4], (1, *CHAIN_SHAPES[0], C))
    fake_noise_p = tuple(pad(a * z, p) for a, z in zip(amps, noises))
    rec_noise_p = (pad(amps[0] * z_opt, p), jnp.zeros_like(fake_noise_p[1]))
    loss_and_grads = jax.jit(
        jax.value_and_grad(chain_generator_loss, has_aux=True), static_argnums=(9, 10)
    )
    (_, (terms, stats)), grads = loss_and_grads(
        tuple(g[0] for g in gens),
        tuple(g[1] for g in gens),
        d,
        fake_prev,
        fake_noise_p,
        rec_prev,
        rec_noise_p,
        make_data()["real"],
        10.0,
        tuple(CHAIN_SHAPES),
        mcfg,
    )
    D.train().requires_grad_(False)
    t_loss, t_terms = tr.chain_generator_loss(
        twins,
        D,
        amps,
        t(fake_prev),
        [t(z) for z in noises],
        t(rec_prev),
        t(z_opt),
        t(make_data()["real"]),
        CHAIN_SHAPES,
        10.0,
        clamp=True,
    )
    t_loss.backward()
    assert_terms_close(terms, t_terms)
    for j, G in enumerate(twins):
        assert_tree_close(grads[j], tr.to_jax_layout(G, grads=True), GRAD_RTOL, GRAD_ATOL)
        assert_tree_close(stats[j], tr.running_stats(G))


def test_concurrent_iteration_matches():
    """Two iterations of ``make_iteration`` at scale 2 with ``concurrent_stages=2``: scale 0
    frozen below, the generators of scales 1 and 2 trained together (scale 1's at lr x0.1),
    against the torch ``ConcurrentTrainer`` fed the same noises, prevs and alphas; the lr
    drops before the second iteration. Tolerances as in ``test_whole_iteration_matches``."""
    mcfg = ModelConfig(nfc_init=NFC, nfc_max=NFC, conv_impl="auto", num_layers=CHAIN_LAYERS)
    tcfg = TrainConfig(iters=1, concurrent_stages=2)
    shapes = [(17, 19), *CHAIN_SHAPES]
    (g1, g2), (G1, G2), _, _, _ = _chain_nets(mcfg)
    # the published five-layer critic: with a three-layer one, the rounding-level gradients
    # that Adam turns into O(lr) steps (see test_whole_iteration_matches) already move the
    # GP term by 6e-4 after the first three D steps
    d = make_data()["d"]
    D = tr.load_jax(tr.Discriminator(C, NFC), d)
    g0 = init_generator(jax.random.PRNGKey(7), C, NFC, mcfg)
    z_opt0 = draw_noise(jax.random.PRNGKey(8), 1, shapes[0], C, True)
    stages = [Stage(g0[0], g0[1], jnp.float32(1.0)), Stage(g1[0], g1[1], jnp.float32(0.4))]
    consts = scale_consts(2, make_data()["real"][0], stages, shapes, z_opt0, tcfg, mcfg)
    assert len(consts.frozen) == 1 and len(consts.lower_amps) == 1
    state = init_state(g2, d, tcfg, lower=[g1], scale=2)
    frozen = [tr.FrozenStage(tr.load_jax(tr.Generator(C, NFC, CHAIN_LAYERS), *g0), 1.0, shapes[0])]
    trainer = tr.ConcurrentTrainer(
        [G1, G2],
        D,
        t(consts.real),
        t(consts.z_opt),
        t(consts.rec_prev),
        [0.4, float(consts.amp)],
        list(CHAIN_SHAPES),
        frozen,
        lr_scale=tcfg.concurrent_lr_scale,
        iters=tcfg.iters,
    )
    iteration = make_iteration(2, shapes, C, mcfg, tcfg)
    shared = tcfg.coarsest_noise == "shared"
    for i in range(2):
        key = jax.random.PRNGKey(100 + i)
        k_noise, k_steps = jax.random.split(key)
        noises = [
            draw_noise(jax.random.fold_in(k_noise, 1), 1, shapes[1], C, False),
            draw_noise(k_noise, 1, shapes[2], C, False),
        ]
        prevs, alphas = [], []
        for k in jax.random.split(k_steps, tcfg.d_steps):
            k_prev, k_alpha = jax.random.split(k)
            prevs.append(random_prev(consts.frozen, shapes, k_prev, C, shared, mcfg))
            alphas.append(float(jax.random.uniform(k_alpha, (), jnp.float32)))
        state, metrics = iteration(state, consts, key)
        t_metrics = trainer.iteration([t(z) for z in noises], [t(p) for p in prevs], alphas)
        if i == 0:
            d_terms = ("d_real", "d_fake", "gp", "d_total")
            assert_terms_close(
                {k: metrics[k] for k in d_terms}, {k: t_metrics[k] for k in d_terms}, 1e-4, 1e-5
            )
        assert_terms_close(metrics, t_metrics, 2e-2, 2e-3)
    assert isinstance(state.g_params, tuple) and len(state.g_params) == 2
    for ours, theirs, lr in (
        (state.g_params[0], G1, tcfg.lr_g * tcfg.concurrent_lr_scale),
        (state.g_params[1], G2, tcfg.lr_g),
        (state.d_params, D, tcfg.lr_d),
    ):
        ref = tr.to_jax_layout(theirs)
        for i, (a, e) in enumerate(zip(ours["layers"], ref["layers"])):
            for name in a:
                diff = np.abs(np.asarray(a[name]) - e[name])
                assert diff.max() < 6 * lr, (i, name)
                if name == "b" and "gamma" in a:  # pre-BN bias: no effect on any output
                    continue
                assert np.mean(diff > 1e-4 + 1e-3 * np.abs(e[name])) < 0.05, (i, name)
    # The lower generator moved, by about a tenth of what the new one moved.
    moved = [
        float(np.abs(np.asarray(a["layers"][0]["w"]) - np.asarray(b["layers"][0]["w"])).mean())
        for a, b in ((state.g_params[0], g1[0]), (state.g_params[1], g2[0]))
    ]
    assert 0.0 < moved[0] < 0.3 * moved[1], moved


# --- volumes: the same nets with 3x3x3 convolutions against nn.Conv3d / nn.BatchNorm3d --------

D3, H3, W3, C3, NFC3 = 12, 13, 12, 2, 8
# Three-layer nets (padding 3): every 3-D code path of the five-layer ones (conv + BN +
# LeakyReLU blocks, the output conv, the double backward), at about half the compile time.
LAYERS3 = 3


def t3(x) -> torch.Tensor:
    """NDHWC jax/numpy -> NCDHW torch (a copy)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 4, 1, 2, 3)))


@pytest.mark.parametrize("impl", ["xla"])  # the other forms equal "xla": test_conv.py
def test_volume_losses_grads_and_one_iteration_match_conv3d(impl):
    """A volume pyramid's coarsest scale: D and G losses with their gradients and BN running
    averages, then one whole training iteration (3 D + 3 G steps, randomness injected), against
    the torch twin built from ``nn.Conv3d``/``nn.BatchNorm3d``."""
    mcfg = ModelConfig(nfc_init=NFC3, nfc_max=NFC3, conv_impl=impl, num_layers=LAYERS3)
    tcfg = TrainConfig(iters=1)
    ks = jax.random.split(jax.random.PRNGKey(3), 8)
    zz, yy, xx = jnp.mgrid[0:D3, 0:H3, 0:W3]
    real = jnp.stack([jnp.sin(xx / (2.0 + c) + yy / 3.0 - zz / (4.0 + c)) for c in range(C3)], -1)
    real = (0.8 * real + 0.1 * jax.random.normal(ks[0], real.shape))[None]
    fake = jnp.tanh(jax.random.normal(ks[1], real.shape))
    g = init_generator(ks[2], C3, NFC3, mcfg, spatial_dims=3)
    d = init_discriminator(ks[3], C3, NFC3, mcfg, spatial_dims=3)[0]
    assert g[0]["layers"][0]["w"].shape == (3, 3, 3, C3, NFC3)

    def nets():
        G = tr.load_jax(tr.Generator(C3, NFC3, LAYERS3, spatial_dims=3), *g).train()
        D = tr.load_jax(tr.Discriminator(C3, NFC3, LAYERS3, spatial_dims=3), d).train()
        return G, D

    # D: WGAN-GP loss and gradients (double backward through the 3-D convolutions)
    (_, terms), grads = D_LOSS_AND_GRADS(d, real, fake, jnp.float32(0.37), 0.1, mcfg)
    G, D = nets()
    t_loss, t_terms = tr.discriminator_loss(D, t3(real), t3(fake), 0.37, 0.1)
    t_loss.backward()
    assert_terms_close(terms, t_terms)
    assert_tree_close(grads, tr.to_jax_layout(D, grads=True), GRAD_RTOL, GRAD_ATOL)

    # G: adversarial + reconstruction loss, gradients and running averages
    z_opt = draw_noise(ks[4], 1, (D3, H3, W3), C3, True)
    prev_p = pad(jnp.zeros_like(real), LAYERS3)
    rec_in = pad(z_opt, LAYERS3) + prev_p
    noise = draw_noise(ks[5], 1, (D3, H3, W3), C3, True)
    fake_in = pad(noise, LAYERS3) + prev_p
    (_, (g_terms, new_stats)), g_grads = G_LOSS_AND_GRADS(
        g[0], g[1], d, fake_in, prev_p, rec_in, prev_p, real, 10.0, mcfg
    )
    G, D = nets()
    D.requires_grad_(False)
    tl, tt = tr.generator_loss(
        G, D, t3(fake_in), t3(prev_p), t3(rec_in), t3(prev_p), t3(real), 10.0
    )
    tl.backward()
    assert_terms_close(g_terms, tt)
    assert_tree_close(g_grads, tr.to_jax_layout(G, grads=True), GRAD_RTOL, GRAD_ATOL)
    assert_tree_close(new_stats, tr.running_stats(G))

    # One whole iteration at the coarsest scale, the same noise and alphas in both
    shapes = [(D3, H3, W3)]
    consts = scale_consts(0, real[0], [], shapes, z_opt, tcfg, mcfg)
    state = init_state(g, d, tcfg)
    key = jax.random.PRNGKey(100)
    k_noise, k_steps = jax.random.split(key)
    it_noise = draw_noise(k_noise, 1, shapes[0], C3, True)
    alphas = [
        float(jax.random.uniform(jax.random.split(k)[1], (), jnp.float32))
        for k in jax.random.split(k_steps, tcfg.d_steps)
    ]
    state, metrics = make_iteration(0, shapes, C3, mcfg, tcfg)(state, consts, key)
    G, D = nets()
    trainer = tr.ScaleTrainer(
        G, D, t3(consts.real), t3(consts.z_opt), t3(consts.rec_prev), float(consts.amp),
        iters=tcfg.iters,
    )  # fmt: skip
    zeros = torch.zeros(1, C3, D3, H3, W3)
    t_metrics = trainer.iteration(t3(it_noise), [zeros] * tcfg.d_steps, alphas)
    d_terms = ("d_real", "d_fake", "gp", "d_total")
    assert_terms_close({k: metrics[k] for k in d_terms}, {k: t_metrics[k] for k in d_terms})
    assert_terms_close(metrics, t_metrics, 2e-2, 2e-3)
    for ours, theirs in ((state.g_params, G), (state.d_params, D)):
        for i, (a, e) in enumerate(zip(ours["layers"], tr.to_jax_layout(theirs)["layers"])):
            for name in a:
                diff = np.abs(np.asarray(a[name]) - e[name])
                assert diff.max() < 6 * tcfg.lr_g, (i, name)
                if not (name == "b" and "gamma" in a):  # pre-BN bias: no effect on outputs
                    assert np.mean(diff > 1e-4 + 1e-3 * np.abs(e[name])) < 0.05, (i, name)
