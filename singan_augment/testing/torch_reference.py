"""A PyTorch SinGAN with the same math as the JAX engine, for equivalence tests and timing.

Written for this project (not copied from the reference repository). It is idiomatic,
efficient eager PyTorch: NCHW tensors, ``nn.Conv2d``/``nn.BatchNorm2d`` (oneDNN kernels),
one backward per D step (real + fake + GP terms summed), D frozen (``requires_grad_(False)``)
during G steps, coarser generators in eval mode under ``torch.no_grad``.

Per scale, one training iteration is:

* one noise map ``noise`` (one channel repeated over C at the coarsest scale);
* 3 D steps, each with a fresh random ``prev`` from the coarser generators (eval mode),
  ``fake = G(pad(amp * noise + prev), pad(prev))`` (train-mode BN, no grad), loss
  ``-mean D(real) + mean D(fake) + 0.1 * GP`` (scalar alpha, grad norm over channels per pixel);
* 3 G steps on the last D step's ``prev``, each recomputing the fake with the current params:
  ``-mean D(G(fake_in)) + 10 * MSE(G(pad(amp * z_opt + rec_prev)), real)``;
* Adam(5e-4, betas (0.5, 0.999)) for both, lr x0.1 from iteration ``0.8 * iters``.

Weights can be loaded from the engine's parameter pytrees (HWIO -> OIHW) with ``load_jax``.

Volumes: ``spatial_dims=3`` builds the same nets from ``nn.Conv3d``/``nn.BatchNorm3d`` (NCDHW,
DHWIO <-> OIDHW). ``resize`` is 2-D only (torch has no antialiased tricubic), so a 3-D
``ScaleTrainer`` covers the coarsest scale, or finer ones with injected ``prevs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PAD = 5


_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


class Net(nn.Module):
    """5 valid 3x3 (3x3x3) convs: 4 x (conv + BN + LeakyReLU(0.2)), then a conv to ``out_ch``."""

    def __init__(
        self, in_ch: int, width: int, out_ch: int, num_layers: int = 5, spatial_dims: int = 2
    ):
        super().__init__()
        conv, norm = _CONV[spatial_dims], _NORM[spatial_dims]
        chans = [in_ch] + [width] * (num_layers - 1)
        blocks = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            blocks += [conv(cin, cout, 3), norm(cout), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*blocks)
        self.tail = conv(width, out_ch, 3)
        self.reset_parameters()

    def reset_parameters(self, std: float = 0.02) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Conv3d):
                nn.init.normal_(m.weight, 0.0, std)  # the bias keeps PyTorch's default init
            elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm3d):
                nn.init.normal_(m.weight, 1.0, std)
                nn.init.zeros_(m.bias)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(x))


class Generator(Net):
    def __init__(self, channels: int, width: int, num_layers: int = 5, spatial_dims: int = 2):
        super().__init__(channels, width, channels, num_layers, spatial_dims)

    def forward(self, z_in: torch.Tensor, prev_p: torch.Tensor) -> torch.Tensor:
        """``tanh(net(z_in)) + centre-crop(prev_p)``; both inputs are padded by the number of
        layers (5 px for the published nets)."""
        out = torch.tanh(self.trunk(z_in))
        p = (prev_p.shape[-1] - out.shape[-1]) // 2
        crop = (slice(None), slice(None)) + (slice(p, -p),) * (prev_p.ndim - 2)
        return out + prev_p[crop]


class Discriminator(Net):
    def __init__(self, channels: int, width: int, num_layers: int = 5, spatial_dims: int = 2):
        super().__init__(channels, width, 1, num_layers, spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)


def convs_and_bns(net: Net) -> tuple[list[nn.Module], list[nn.Module]]:
    convs = [m for m in net.body if isinstance(m, nn.Conv2d | nn.Conv3d)] + [net.tail]
    bns = [m for m in net.body if isinstance(m, nn.BatchNorm2d | nn.BatchNorm3d)]
    return convs, bns


@torch.no_grad()
def load_jax(net: Net, params, stats=None) -> Net:
    """Copy an engine parameter pytree (and optionally BN running averages) into ``net``."""
    convs, bns = convs_and_bns(net)
    layers = params["layers"]
    for i, conv in enumerate(convs):
        w = np.asarray(layers[i]["w"])  # HWIO (DHWIO) -> OIHW (OIDHW)
        nd = w.ndim - 2
        conv.weight.copy_(torch.from_numpy(np.array(w.transpose(nd + 1, nd, *range(nd)))))
        conv.bias.copy_(torch.from_numpy(np.array(layers[i]["b"])))
    for i, bn in enumerate(bns):
        bn.weight.copy_(torch.from_numpy(np.array(layers[i]["gamma"])))
        bn.bias.copy_(torch.from_numpy(np.array(layers[i]["beta"])))
        if stats is not None:
            bn.running_mean.copy_(torch.from_numpy(np.array(stats[i]["mean"])))
            bn.running_var.copy_(torch.from_numpy(np.array(stats[i]["var"])))
    return net


def to_jax_layout(net: Net, grads: bool = False) -> dict:
    """Params (or their ``.grad``) of ``net`` as an engine-shaped pytree of numpy arrays."""
    convs, bns = convs_and_bns(net)

    def get(t):
        t = t.grad if grads else t
        return t.detach().numpy().copy()

    layers = []
    for i, conv in enumerate(convs):
        w = get(conv.weight)  # OIHW (OIDHW) -> HWIO (DHWIO)
        layer = {"w": w.transpose(*range(2, w.ndim), 1, 0), "b": get(conv.bias)}
        if i < len(bns):
            layer["gamma"] = get(bns[i].weight)
            layer["beta"] = get(bns[i].bias)
        layers.append(layer)
    return {"layers": layers}


def running_stats(net: Net) -> list[dict]:
    _, bns = convs_and_bns(net)
    return [
        {"mean": bn.running_mean.numpy().copy(), "var": bn.running_var.numpy().copy()} for bn in bns
    ]


def pad(x: torch.Tensor, p: int = PAD) -> torch.Tensor:
    return F.pad(x, (p,) * (2 * (x.ndim - 2)))


def net_padding(net: Net) -> int:
    """The pixels a net's valid 3x3 convolutions take off each side: one per convolution."""
    return len(convs_and_bns(net)[0])


def resize(x: torch.Tensor, shape: Sequence[int], clamp: bool = False) -> torch.Tensor:
    """Antialiased bicubic resize; ``clamp`` clips to [-1, 1] afterwards, as the reference
    code's uint8 round trip does."""
    if tuple(x.shape[-2:]) != tuple(shape):
        x = F.interpolate(x, size=tuple(shape), mode="bicubic", align_corners=False, antialias=True)
    return x.clamp(-1.0, 1.0) if clamp else x


def noise_map(shape: Sequence[int], channels: int, shared: bool) -> torch.Tensor:
    if shared:
        return torch.randn(1, 1, *shape).expand(1, channels, *shape)
    return torch.randn(1, channels, *shape)


def discriminator_loss(
    D: Discriminator,
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha,
    gp_weight: float = 0.1,
    penalty: bool = True,
):
    """WGAN-GP: ``-mean D(real) + mean D(fake) + gp_weight * GP``; returns (total, terms).
    ``penalty=False``: the critic's loss alone, and no ``"gp"`` term."""
    err_real = -D(real).mean()
    err_fake = D(fake).mean()
    if not penalty:
        total = err_real + err_fake
        return total, {"d_real": err_real, "d_fake": err_fake, "d_total": total}
    x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    gp = ((g.square().sum(dim=1).sqrt() - 1) ** 2).mean()
    total = err_real + err_fake + gp_weight * gp
    return total, {"d_real": err_real, "d_fake": err_fake, "gp": gp, "d_total": total}


def generator_loss(
    G: Generator,
    D: Discriminator,
    fake_in: torch.Tensor,
    prev_p: torch.Tensor,
    rec_in: torch.Tensor,
    rec_prev_p: torch.Tensor,
    real: torch.Tensor,
    rec_weight: float = 10.0,
):
    """``-mean D(G(fake_in)) + rec_weight * MSE(G(rec_in), real)``; returns (total, terms)."""
    err_adv = -D(G(fake_in, prev_p)).mean()
    rec = F.mse_loss(G(rec_in, rec_prev_p), real)
    total = err_adv + rec_weight * rec
    return total, {"g_adv": err_adv, "rec": rec, "g_total": total}


@dataclass
class FrozenStage:
    G: Generator  # eval mode
    amp: float
    shape: tuple[int, int]


def run_frozen(
    stages: Sequence[FrozenStage],
    channels: int,
    shared: bool,
    noises: Sequence[torch.Tensor] | None = None,
    clamp: bool = False,
) -> torch.Tensor:
    """An image from ``stages`` at the last stage's shape: fresh noise at every scale, or the
    given (1, C, H, W) ``noises``; ``clamp`` clips every upsampled previous image to [-1, 1]."""
    if noises is None:  # eval-mode generators draw nothing: the same draws as interleaved
        noises = [noise_map(st.shape, channels, shared and i == 0) for i, st in enumerate(stages)]
    return run_chain(
        [st.G for st in stages],
        [st.amp for st in stages],
        torch.zeros(1, channels, *stages[0].shape),
        noises,
        [st.shape for st in stages],
        clamp,
    )


@dataclass(kw_only=True)
class TrainerSettings:
    """What both trainers share: the published steps, rates and loss weights, and their Adam
    optimisers with the lr drop at ``0.8 * iters``."""

    iters: int = 2000
    d_steps: int = 3
    g_steps: int = 3
    lr: float = 5e-4
    gp_weight: float = 0.1
    rec_weight: float = 10.0
    # lazy penalty: on D steps 0, k, 2k, ... of an iteration, weighted k * gp_weight
    gp_every: int = 1

    def make_optimizers(self, g_params, d_params) -> None:
        """Adam(betas 0.5, 0.999) for G (``g_params``: parameters or parameter groups) and D,
        each with its MultiStepLR; sets ``opt_g``, ``opt_d``, ``sched_g``, ``sched_d``."""
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(g_params, lr=self.lr, betas=betas)
        self.opt_d = torch.optim.Adam(d_params, lr=self.lr, betas=betas)
        drop = [int(round(0.8 * self.iters))]
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, drop, gamma=0.1)
        self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.opt_d, drop, gamma=0.1)


@dataclass
class ScaleTrainer(TrainerSettings):
    """Trains one scale. ``real``, ``z_opt`` and ``rec_prev`` are (1, C, H, W) (or (1, C, D,
    H, W))."""

    G: Generator
    D: Discriminator
    real: torch.Tensor
    z_opt: torch.Tensor
    rec_prev: torch.Tensor
    amp: float
    frozen: list[FrozenStage] = field(default_factory=list)
    shared_noise: bool = True

    def __post_init__(self):
        self.channels = self.real.shape[1]
        self.shape = tuple(self.real.shape[2:])
        self.make_optimizers(self.G.parameters(), self.D.parameters())
        for st in self.frozen:
            st.G.eval().requires_grad_(False)
        self.G.train()
        self.D.train()
        with torch.no_grad():
            self.padding = net_padding(self.G)
            self.rec_prev_p = pad(self.rec_prev, self.padding)
            self.rec_in = pad(self.amp * self.z_opt, self.padding) + self.rec_prev_p

    @torch.no_grad()
    def random_prev(self) -> torch.Tensor:
        if not self.frozen:
            return torch.zeros(1, self.channels, *self.shape)
        return resize(run_frozen(self.frozen, self.channels, self.shared_noise), self.shape)

    def d_step(self, noise, prev, alpha, j: int = 0) -> dict:
        with torch.no_grad():
            prev_p = pad(prev, self.padding)
            fake = self.G(pad(self.amp * noise, self.padding) + prev_p, prev_p)
        self.opt_d.zero_grad(set_to_none=True)
        k = self.gp_every
        loss, terms = discriminator_loss(
            self.D, self.real, fake, alpha, k * self.gp_weight, penalty=j % k == 0
        )
        loss.backward()
        self.opt_d.step()
        return terms

    def g_step(self, fake_in, prev_p) -> dict:
        self.opt_g.zero_grad(set_to_none=True)
        loss, terms = generator_loss(
            self.G,
            self.D,
            fake_in,
            prev_p,
            self.rec_in,
            self.rec_prev_p,
            self.real,
            self.rec_weight,
        )
        loss.backward()
        self.opt_g.step()
        return terms

    def iteration(self, noise=None, prevs=None, alphas=None) -> dict:
        """One iteration; ``noise`` (1,C,H,W), ``prevs`` (d_steps x (1,C,H,W)) and ``alphas``
        (d_steps floats) may be injected, else they are drawn from torch's RNG."""
        if noise is None:
            noise = noise_map(self.shape, self.channels, self.shared_noise and not self.frozen)
        terms = {}
        prev = None
        self.D.requires_grad_(True)
        for j in range(self.d_steps):
            prev = self.random_prev() if prevs is None else prevs[j]
            alpha = float(torch.rand(())) if alphas is None else float(alphas[j])
            terms.update(self.d_step(noise, prev, alpha, j))
        self.D.requires_grad_(False)
        with torch.no_grad():
            prev_p = pad(prev, self.padding)
            fake_in = pad(self.amp * noise, self.padding) + prev_p
        for _ in range(self.g_steps):
            terms.update(self.g_step(fake_in, prev_p))
        self.sched_d.step()
        self.sched_g.step()
        return {k: v.item() for k, v in terms.items()}


def run_chain(
    Gs: Sequence[Generator],
    amps: Sequence[float],
    prev: torch.Tensor,
    noises: Sequence[torch.Tensor],
    shapes: Sequence[tuple[int, int]],
    clamp: bool = True,
) -> torch.Tensor:
    """Generators trained together, coarse to fine: ``prev`` (1, C, *shapes[0]) enters the
    first; between generators the image is resized (and clamped). Each generator's inputs are
    padded by its number of layers."""
    for j, (G, amp, z, shape) in enumerate(zip(Gs, amps, noises, shapes)):
        if j > 0:
            prev = resize(prev, shape, clamp)
        p = net_padding(G)
        prev_p = pad(prev, p)
        prev = G(pad(amp * z, p) + prev_p, prev_p)
    return prev


def chain_generator_loss(
    Gs: Sequence[Generator],
    D: Discriminator,
    amps: Sequence[float],
    fake_prev: torch.Tensor,
    fake_noises: Sequence[torch.Tensor],
    rec_prev: torch.Tensor,
    z_opt: torch.Tensor,
    real: torch.Tensor,
    shapes: Sequence[tuple[int, int]],
    rec_weight: float = 10.0,
    clamp: bool = True,
):
    """``-mean D(chain(fake)) + rec_weight * MSE(chain(rec), real)``; the reconstruction path
    has ``z_opt`` at the first generator and zero noise above. Returns (total, terms)."""
    fake = run_chain(Gs, amps, fake_prev, fake_noises, shapes, clamp)
    err_adv = -D(fake).mean()
    rec_noises = [z_opt, *(torch.zeros(1, z_opt.shape[1], *s) for s in shapes[1:])]
    rec = F.mse_loss(run_chain(Gs, amps, rec_prev, rec_noises, shapes, clamp), real)
    total = err_adv + rec_weight * rec
    return total, {"g_adv": err_adv, "rec": rec, "g_total": total}


@dataclass
class ConcurrentTrainer(TrainerSettings):
    """Trains the generators of several scales together, ConSinGAN-style (the engine's
    ``TrainConfig.concurrent_stages``): ``Gs`` coarsest first, the last one the new scale's;
    one D (the new scale's); Adam parameter groups with lr ``lr * lr_scale ** (k - 1 - j)``
    for generator j, all dropped x0.1 at ``0.8 * iters``.

    Per iteration: one noise map per generator; 3 D steps on the chain's output (train-mode
    BN, no grad) with a fresh random ``prev`` from the frozen scales below; 3 G steps through
    the whole chain on the last D step's ``prev``. ``z_opt`` and ``rec_prev`` belong to the
    first trainable scale."""

    Gs: list[Generator]
    D: Discriminator
    real: torch.Tensor
    z_opt: torch.Tensor
    rec_prev: torch.Tensor
    amps: list[float]
    shapes: list[tuple[int, int]]
    frozen: list[FrozenStage] = field(default_factory=list)
    lr_scale: float = 0.1
    clamp: bool = True

    def __post_init__(self):
        k = len(self.Gs)
        groups = [
            {"params": list(G.parameters()), "lr": self.lr * self.lr_scale ** (k - 1 - j)}
            for j, G in enumerate(self.Gs)
        ]
        self.make_optimizers(groups, self.D.parameters())
        for st in self.frozen:
            st.G.eval().requires_grad_(False)
        for G in self.Gs:
            G.train()
        self.D.train()

    def iteration(self, noises, prevs, alphas) -> dict:
        """One iteration with injected randomness: ``noises`` (one (1, C, H, W) map per
        generator), ``prevs`` (d_steps images entering the first generator), ``alphas``."""
        terms = {}
        self.D.requires_grad_(True)
        for j in range(self.d_steps):
            with torch.no_grad():
                fake = run_chain(self.Gs, self.amps, prevs[j], noises, self.shapes, self.clamp)
            self.opt_d.zero_grad(set_to_none=True)
            loss, t = discriminator_loss(self.D, self.real, fake, float(alphas[j]), self.gp_weight)
            loss.backward()
            self.opt_d.step()
            terms.update(t)
        self.D.requires_grad_(False)
        for _ in range(self.g_steps):
            self.opt_g.zero_grad(set_to_none=True)
            loss, t = chain_generator_loss(
                self.Gs,
                self.D,
                self.amps,
                prevs[-1],
                noises,
                self.rec_prev,
                self.z_opt,
                self.real,
                self.shapes,
                self.rec_weight,
                self.clamp,
            )
            loss.backward()
            self.opt_g.step()
            terms.update(t)
        self.sched_d.step()
        self.sched_g.step()
        return {k: v.item() for k, v in terms.items()}
