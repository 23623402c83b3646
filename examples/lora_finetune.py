"""Fine-tune a small MLP with LoRA: far fewer trainable parameters, the loss still goes down.

A "pretrained" 3-layer MLP (fixed random weights) is adapted to a new regression task whose
target differs from the pretrained map by a rank-4 change of the hidden layers. LoRA
adapters of rank 4 on the two hidden ``nn.Linear`` layers are trained with Adam; every
other weight stays frozen. At the end the adapters are saved in PEFT's format, merged
into the weights, and the merged model is checked to give the same outputs.

Run: ``python examples/lora_finetune.py [--steps 300]``.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import NamedTuple

import torch
from torch import nn

from rankwise.nn import LoRAAdapter, add_lora, load_adapter, lora_parameters, merge_lora


class Run(NamedTuple):
    params_total: int
    params_trainable: int
    loss_start: float
    loss_end: float
    merge_gap: float


def pretrained(width: int, seed: int) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)
    return net


def task(net: nn.Sequential, n: int, rank: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets of the teacher: the pretrained net with a rank-``rank`` change of layers 0 and 2."""
    g = torch.Generator().manual_seed(seed + 1)
    teacher = pretrained(net[0].in_features, 0)
    teacher.load_state_dict(net.state_dict())
    with torch.no_grad():
        for i in (0, 2):
            w = teacher[i].weight
            u, v = torch.randn(w.shape[0], rank, generator=g), torch.randn(rank, w.shape[1], generator=g)
            w += 0.5 * u @ v / w.shape[1]
        x = torch.randn(n, w.shape[1], generator=g)
        return x, teacher(x)


def main(steps: int = 300, width: int = 64, rank: int = 4, seed: int = 0, verbose: bool = True) -> Run:
    net = pretrained(width, seed)
    x, y = task(net, 512, rank, seed)
    total = sum(p.numel() for p in net.parameters())
    add_lora(net, ["0", "2"], r=rank, alpha=2 * rank, rng=seed)  # module names of the hidden layers
    params = lora_parameters(net)
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    opt = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for step in range(steps):
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if verbose and step % max(steps // 5, 1) == 0:
            print(f"step {step:4d}  loss {losses[-1]:.3e}")
    with tempfile.TemporaryDirectory() as folder:  # PEFT's format, read back
        LoRAAdapter.from_model(net).save(folder)
        adapter = load_adapter(folder)
    with torch.no_grad():
        before = net(x)
        merged = merge_lora(net)
        gap = float((merged(x) - before).abs().max())
    run = Run(total, trainable, losses[0], losses[-1], gap)
    if verbose:
        print(f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.1f}%); "
              f"adapter layers saved in PEFT format: {sorted(adapter.layers)}")
        print(f"loss {run.loss_start:.3e} -> {run.loss_end:.3e}; merged model differs by {gap:.1e}")
    return run


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=300)
    main(steps=ap.parse_args().steps)
