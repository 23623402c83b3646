"""Vector quantisation on scikit-learn's digits: a plain codebook against a linear one (SimVQ).

An encoder (64→128→8), :class:`rankwise.nn.VectorQuantizer` (K = 256 codes of dimension 8)
and a decoder (8→128→64) are trained with Adam on the 8×8 digits (shipped with scikit-learn,
nothing is downloaded). The codebook is either a plain learned matrix or C = Q·W (frozen random
Q, learned W); gradients reach the encoder by the straight-through estimator or the rotation
trick. Every ``--every`` steps the script prints the share of codes the training images use,
the dead codes of the last interval and the reconstruction error; at the end the trained
codebook is exported to NumPy and measured with :mod:`rankwise.quantize`, which needs no torch.

Run: ``python examples/vq.py [--steps 3000] [--init-std 1.0] [--plot out.png]``.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from rankwise.nn import VectorQuantizer
from rankwise.quantize import codebook_stats, utilisation


def mlp(sizes: tuple[int, ...], g: torch.Generator) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        lin = nn.Linear(a, b)
        for p in lin.parameters():
            nn.init.uniform_(p, -a**-0.5, a**-0.5, generator=g)
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def train(X: torch.Tensor, codebook: str, estimator: str, *, steps: int, every: int, init_std: float | None,
          seed: int) -> tuple[list[tuple[int, float, int, float]], nn.Module, VectorQuantizer]:
    g = torch.Generator().manual_seed(seed)
    enc, dec = mlp((64, 128, 8), g), mlp((8, 128, 64), g)
    vq = VectorQuantizer(256, 8, codebook=codebook, estimator=estimator, init_std=init_std, rng=seed)  # type: ignore[arg-type]
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters(), *vq.parameters()], lr=1e-3)
    curve = []
    for step in range(1, steps + 1):
        x = X[torch.randint(0, len(X), (128,), generator=g)]
        out = vq(enc(x))
        loss = (dec(out.quantized) - x).square().mean() + out.loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0:
            with torch.no_grad():
                vq.eval()
                full = vq(enc(X))
                mse = float((dec(full.quantized) - X).square().mean())
                vq.train()
            curve.append((step, utilisation(full.indices.numpy(), 256), vq.dead_codes(), mse))
            vq.reset_usage()
    return curve, enc, vq


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--init-std", type=float, default=None, help="std of the initial codes (default 1/sqrt(8))")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", help="write the utilisation and error curves to this image file")
    args = p.parse_args()
    torch.set_num_threads(1)  # the layers are tiny: one thread is fastest
    X = torch.from_numpy(load_digits().data.astype(np.float32) / 16.0)
    curves = {}
    for codebook, estimator in (("plain", "ste"), ("linear", "ste"), ("linear", "rotation")):
        name = f"{codebook} codebook, {estimator}"
        curve, enc, vq = train(X, codebook, estimator, steps=args.steps, every=args.every, init_std=args.init_std,
                               seed=args.seed)
        curves[name] = curve
        print(name)
        for step, used, dead, mse in curve:
            print(f"  step {step:5d}: {100 * used:5.1f} % of codes used, {dead:3d} dead, MSE {mse:.4f}")
        with torch.no_grad():  # from here on NumPy only: the codebook and the latents as arrays
            C, Z = vq.codebook().numpy(), enc(X).numpy()
        s = codebook_stats(Z, C)
        print(f"  numpy: {s.used}/{s.num_codes} codes used, perplexity {s.perplexity:.1f}, "
              f"latent quantisation error {s.error:.4f}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 2, figsize=(10, 4))
        for name, curve in curves.items():
            steps, used, _, mse = zip(*curve, strict=True)
            ax[0].plot(steps, [100 * u for u in used], label=name)
            ax[1].plot(steps, mse, label=name)
        ax[0].set(xlabel="Adam step", ylabel="codes used (%)", title="Codebook utilisation (K = 256)")
        ax[1].set(xlabel="Adam step", ylabel="MSE", title="Reconstruction error", yscale="log")
        ax[0].legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"figure written to {args.plot}")


if __name__ == "__main__":
    main()
