"""A PyTorch twin of the growing generator (``engine.growing``) and its training iteration
(``engine.growing_fit``), for equivalence tests. Written for this project from the math in
those modules' docstrings; NCHW tensors, ``nn.Conv2d``, ``F.interpolate``.

The critic and its WGAN-GP loss are ``torch_reference``'s (the engine's SinGAN critic).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .torch_reference import Discriminator, discriminator_loss


class GrowingGenerator(nn.Module):
    """Head (conv C -> F + LeakyReLU), one body stage per scale (``stage_layers`` x (valid conv
    F -> F + LeakyReLU)), tail (conv F -> C + tanh); the stages pass features."""

    def __init__(self, channels: int, width: int = 64, stage_layers: int = 3, slope: float = 0.05):
        super().__init__()
        self.slope, self.layers = slope, stage_layers
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.stages = nn.ModuleList([self._stage(width, stage_layers)])
        self.tail = nn.Conv2d(width, channels, 3, padding=1)

    @staticmethod
    def _stage(width: int, n: int) -> nn.ModuleList:
        return nn.ModuleList([nn.Conv2d(width, width, 3) for _ in range(n)])

    def add_stage(self) -> None:
        self.stages.append(copy.deepcopy(self.stages[-1]))

    def _block(self, stage: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        for conv in stage:
            x = F.leaky_relu(conv(x), self.slope)
        return x

    def forward(self, noises, amps, shapes: Sequence[Sequence[int]]) -> torch.Tensor:
        """noises: (N, C, *shapes[0]), then (N, F, *(shapes[k] + 2L)); returns (N, C, *shapes[-1])."""
        big = 2 * self.layers

        def up(x, shape):
            shape = tuple(int(v) for v in shape)
            if tuple(x.shape[-2:]) == shape:
                return x
            return F.interpolate(x, size=shape, mode="bilinear", align_corners=False)

        h = F.leaky_relu(self.head(amps[0] * noises[0]), self.slope)
        s0 = shapes[0]
        f = self._block(self.stages[0], up(h, (s0[0] + big, s0[1] + big)))
        for k in range(1, len(shapes)):
            s = shapes[k]
            x = up(f, (s[0] + big, s[1] + big)) + amps[k] * noises[k]
            f = self._block(self.stages[k], x) + up(f, s)
        return torch.tanh(self.tail(f))


def _conv_from(conv: nn.Conv2d, layer) -> None:
    w = np.asarray(layer["w"])  # HWIO -> OIHW
    conv.weight.copy_(torch.from_numpy(np.array(w.transpose(3, 2, 0, 1))))
    conv.bias.copy_(torch.from_numpy(np.array(layer["b"])))


@torch.no_grad()
def load_growing_jax(G: GrowingGenerator, params) -> GrowingGenerator:
    """Copy an engine growing-generator pytree into ``G`` (adding stages as needed)."""
    while len(G.stages) < len(params["stages"]):
        G.add_stage()
    _conv_from(G.head, params["head"])
    _conv_from(G.tail, params["tail"])
    for stage, layers in zip(G.stages, params["stages"]):
        for conv, layer in zip(stage, layers):
            _conv_from(conv, layer)
    return G


def growing_to_jax(G: GrowingGenerator) -> dict:
    """``G``'s params as an engine-shaped pytree of numpy arrays."""

    def layer(conv: nn.Conv2d) -> dict:
        w = conv.weight.detach().numpy()
        return {"w": w.transpose(2, 3, 1, 0).copy(), "b": conv.bias.detach().numpy().copy()}

    return {
        "head": layer(G.head),
        "stages": tuple(tuple(layer(c) for c in stage) for stage in G.stages),
        "tail": layer(G.tail),
    }


class GrowingTrainer:
    """One stage's training, ConSinGAN's way: the last ``depth`` stages, the tail (and the head
    while stage 0 trains) in Adam groups with lr ``lr * lr_scale ** distance``; the critic in
    its own Adam. Per iteration: ``d_steps`` critic steps on one fake, then ``g_steps``
    generator steps (``-mean D(G(z)) + rec_weight * MSE(G(z_rec), real)``)."""

    def __init__(
        self, G: GrowingGenerator, D: Discriminator, real, z_opt, amps, shapes, *,
        depth: int = 3, lr_scale: float = 0.1, lr: float = 5e-4, rec_weight: float = 10.0,
        gp_weight: float = 0.1, d_steps: int = 3, g_steps: int = 3,
    ):  # fmt: skip
        self.G, self.D, self.real, self.z_opt = G, D, real, z_opt
        self.amps, self.shapes = list(amps), [tuple(s) for s in shapes]
        self.rec_weight, self.gp_weight = rec_weight, gp_weight
        self.d_steps, self.g_steps = d_steps, g_steps
        n = len(self.shapes) - 1
        first = max(0, n - depth + 1)
        groups = [
            {"params": list(G.stages[j].parameters()), "lr": lr * lr_scale ** (n - j)}
            for j in range(first, n + 1)
        ]
        if first == 0:
            groups.insert(0, {"params": list(G.head.parameters()), "lr": lr * lr_scale**n})
        groups.append({"params": list(G.tail.parameters()), "lr": lr})
        trained = {id(p) for g in groups for p in g["params"]}
        for p in G.parameters():
            p.requires_grad_(id(p) in trained)
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(groups, lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)

    def rec_noises(self) -> list[torch.Tensor]:
        big = 2 * self.G.layers
        width = self.G.head.out_channels
        rest = [torch.zeros(1, width, s[0] + big, s[1] + big) for s in self.shapes[1:]]
        return [self.z_opt, *rest]

    def iteration(self, noises, alphas) -> dict:
        """One iteration with injected randomness: ``noises`` (one map per stage, as
        ``GrowingGenerator.forward`` takes them) and the critic steps' ``alphas``."""
        terms = {}
        with torch.no_grad():
            fake = self.G(noises, self.amps, self.shapes)
        self.D.requires_grad_(True)
        for j in range(self.d_steps):
            self.opt_d.zero_grad(set_to_none=True)
            loss, t = discriminator_loss(self.D, self.real, fake, float(alphas[j]), self.gp_weight)
            loss.backward()
            self.opt_d.step()
            terms.update(t)
        self.D.requires_grad_(False)
        rec_in = self.rec_noises()
        for _ in range(self.g_steps):
            self.opt_g.zero_grad(set_to_none=True)
            adv = -self.D(self.G(noises, self.amps, self.shapes)).mean()
            rec = F.mse_loss(self.G(rec_in, self.amps, self.shapes), self.real)
            (adv + self.rec_weight * rec).backward()
            self.opt_g.step()
            terms.update({"g_adv": adv, "rec": rec})
        return {k: v.item() for k, v in terms.items()}
