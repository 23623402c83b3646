"""How the best learning rate follows the batch size: calculator, simulation and a small torch model.

1. The calculator (:func:`rankwise.optim.optimal_lr`) on a small problem with known g, H and Σ:
   η*(B) for SGD, SignSGD and Adam, the mean-field approximation, the SignSGD peak and the ε
   range where Adam is neither sign-like nor SGD-like.
2. The experiment behind ``rankwise lr-scaling`` (:func:`rankwise.optim.lr_scaling_experiment`):
   calculator against Monte Carlo on a least-squares and a quadratic problem.
3. The short horizon (:func:`rankwise.optim.measure_horizon_lr`): the best *constant* learning
   rate for T = 1, 5 and 20 steps on the experiment's quadratic problem, by simulation, against
   the one-step η*(B); for SGD, against the exact T-step optimum (:func:`rankwise.optim.sgd_horizon_loss`).
4. A small MLP: g, Σ (from per-example gradients, ``torch.func``), H (Hessian-vector products)
   and the noise scales with bootstrap intervals, McCandlish's two-batch estimate from ordinary
   mini-batch gradients, and the calculator's η*(B) against the best step measured on the
   model itself (real mini-batches, real loss, no quadratic model).

Run: ``python examples/lr_scaling.py [--draws 2000] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from torch import nn

from rankwise import optim
from rankwise.nn import batch_grads, loss_hvp, per_example_grads


def calculator(verbose: bool) -> None:
    g = np.array([0.3, -0.2, 0.25, 0.1])
    s = np.sign(g)
    H = np.eye(4) + 0.8 * np.outer(s, s)  # curvature aligned with the gradient's signs: a surge
    var = np.array([1.0, 1.0, 2.0, 0.5])
    B = [1, 4, 16, 64, 256, 1024]
    sgd = optim.optimal_lr(B, grad=g, cov=var, hess=H)
    sign = optim.optimal_lr(B, grad=g, cov=var, hess=H, update="sign")
    adam = optim.optimal_lr(B, grad=g, cov=var, hess=H, update="adam", eps=0.1)
    rng = optim.adam_eps_range(B, grad=g, cov=var, hess=H)
    if not verbose:
        return
    print(f"B_noise = {sgd.b_noise:.3g}, B_simple = {sgd.b_simple:.3g}, SignSGD peak at B = {sign.b_peak:.3g} "
          f"(mean-field: {sign.b_peak_approx:.3g})")
    print(f"{'B':>6} {'η* sgd':>10} {'η* sign':>10} {'approx':>8} {'η* adam':>10} {'ε range (neither)':>22}")
    for k, b in enumerate(B):
        print(f"{b:6d} {sgd.eta[k]:10.4g} {sign.eta[k]:10.4g} {100 * sign.approx_error[k]:+7.1f}% "
              f"{adam.eta[k]:10.4g}   ({rng.eps_lo[k]:.3g}, {rng.eps_hi[k]:.3g})")


def experiment(draws: int, seed: int, verbose: bool) -> float:
    rep = optim.lr_scaling_experiment(n_draws=draws, rng=seed)
    if verbose:
        for p in rep.problems:
            print(f"{p.name}: B_noise = {p.b_noise:.3g}; max |z| sgd {rep.max_abs_z(p.name, 'sgd'):.2f}, "
                  f"sign {rep.max_abs_z(p.name, 'sign'):.2f}, adam {rep.max_abs_z(p.name, 'adam'):.2f}")
    return rep.max_abs_z()


def short_horizon(draws: int, seed: int, verbose: bool) -> dict[str, float]:
    """η*_T(B)/η*_1(B) for T = 1, 5, 20 on the experiment's quadratic (d = 16, B_noise = 50)."""
    from scipy import optimize

    B = [1, 16, 256, 4096]
    runs = min(draws, 1000)
    out = {}
    for steps in (1, 5, 20):
        rep = optim.lr_scaling_experiment(batch_sizes=B, eps_rel=[0.1], n_draws=runs, horizon=steps, rng=seed)
        rows = rep.horizon
        if verbose:
            print(f"T = {steps:2d}: η*_T/η*_1 ± s.e. at B = {B}")
            for label in dict.fromkeys(r.label for r in rows):
                cells = "  ".join(f"{r.ratio:5.3f}±{r.eta_se / r.eta_one:.3f}" for r in rows if r.label == label)
                print(f"  {label:12s} {cells}")
        out[f"sgd_ratio_T{steps}_B{B[-1]}"] = rows[len(B) - 1].ratio
    # SGD, T = 20, B = 256, exactly: the mean follows (I − ηH)^T, the covariance a Lyapunov recursion
    q = optim.Quadratic.with_spectrum(np.geomspace(1.0, 100.0, 4), rng=seed)
    A = np.asarray(q.A)
    g, var = A @ np.ones(4), np.diag(A) * 10.0
    sim = optim.measure_horizon_lr([256], steps=20, grad=g, cov=var, hess=A, n_runs=runs, rng=seed)
    res = optimize.minimize_scalar(lambda x: optim.sgd_horizon_loss(np.exp(x), 256, 20, grad=g, cov=var, hess=A),
                                   bounds=(np.log(sim.eta_one[0]) - 4, np.log(sim.eta_one[0]) + 1), method="bounded")
    exact = float(np.exp(res.x))
    if verbose:
        print(f"SGD, d=4 quadratic, T=20, B=256: η*_T simulated {sim.eta[0]:.4g} ± {sim.eta_se[0]:.2g}, exact "
              f"{exact:.4g} (z = {(sim.eta[0] - exact) / sim.eta_se[0]:+.2f}); one-step η* {sim.eta_one[0]:.4g}")
    out["sgd_exact_z"] = float((sim.eta[0] - exact) / sim.eta_se[0])
    return out


def mlp_problem(seed: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """An 8-12-1 tanh MLP, part-trained on a noisy teacher: a point where the gradient is noisy but not zero."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.randn(4096, 8, generator=gen, dtype=torch.float64)
    y = torch.tanh(x @ torch.randn(8, 1, generator=gen, dtype=torch.float64)) + 0.3 * torch.randn(
        4096, 1, generator=gen, dtype=torch.float64)
    net = nn.Sequential(nn.Linear(8, 12), nn.Tanh(), nn.Linear(12, 1)).double()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        opt.step()
    return net, x, y


def flat_loss(net: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor):
    """θ ↦ L(θ) on flat parameter vectors (the order of ``per_example_grads``' columns), and θ now."""
    names = [k for k, p in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]

    def loss(theta: torch.Tensor) -> torch.Tensor:
        params = {k: t.reshape(s) for k, t, s in zip(names, torch.split(theta, sizes), shapes, strict=True)}
        return loss_fn(torch.func.functional_call(net, params, (x,)), y)

    return loss, torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def torch_model(draws: int, seed: int, verbose: bool) -> dict[str, float]:
    net, x, y = mlp_problem(seed)
    loss_fn = nn.functional.mse_loss
    P = per_example_grads(net, loss_fn, x, y).numpy()
    loss, theta = flat_loss(net, loss_fn, x, y)
    H = torch.func.hessian(loss)(theta).numpy()  # one call; loss_hvp(net, loss_fn, x, y) gives H·v
    hvp = loss_hvp(net, loss_fn, x, y)
    assert np.allclose(hvp(np.eye(P.shape[1])[0]), H[:, 0])
    H = 0.5 * (H + H.T)
    st = optim.noise_stats(P, hess=H, rng=seed)
    small = batch_grads(net, loss_fn, x, y, 8, n_batches=400, rng=seed).numpy()
    big = batch_grads(net, loss_fn, x, y, 256, n_batches=400, rng=seed + 1).numpy()
    two = optim.two_batch_noise_scale((small**2).sum(1), (big**2).sum(1), b_small=8, b_big=256, rng=seed)
    if verbose:
        print(f"MLP with {P.shape[1]} parameters at loss {float(loss(theta)):.4f}")
        print(f"  per-example: B_simple = {st.b_simple:.3g} {_ci(st.b_simple_ci)}, "
              f"B_noise = {st.b_noise:.3g} {_ci(st.b_noise_ci)}")
        print(f"  two batch sizes (8, 256): B_simple = {two.scale:.3g} {_ci(two.scale_ci)}")
    B = np.array([1, 4, 16, 64, 256, 1024])
    var = P.var(axis=0)  # population covariance: the batches below are drawn with replacement
    cov = np.cov(P, rowvar=False, ddof=0)
    out = {"b_simple": st.b_simple, "b_simple_two_batch": two.scale}
    for update, eps in (("sgd", None), ("sign", None), ("adam", 0.1 * math.sqrt(var.mean()))):
        try:
            pred = optim.optimal_lr(B, grad=st.grad, cov=cov, hess=H, update=update, eps=eps, peak=False)
            kind = "full Σ"
        except ValueError:  # Adam's cross moments need correlations |ρ| <= 0.98
            pred = optim.optimal_lr(B, grad=st.grad, cov=var, hess=H, update=update, eps=eps, peak=False)
            kind = "diag Σ"
        best = measured_best(loss, theta, P, B, update, eps, pred.eta, min(draws, 256), seed)
        out[update] = float(np.max(np.abs(best / pred.eta - 1.0)))
        if verbose:
            pairs = ", ".join(f"{b}: {p:.3g}/{m:.3g}" for b, p, m in zip(B, pred.eta, best, strict=True))
            print(f"  {update:4s} ({kind}) η* calc/measured on the model: {pairs}")
    return out


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def measured_best(loss, theta: torch.Tensor, P: np.ndarray, B: np.ndarray, update: str, eps: float | None,
                  eta_pred: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """The step maximising the mean *actual* loss decrease over real mini-batches (grid around η*, then a parabola)."""
    gen = np.random.default_rng(seed)
    batched = torch.func.vmap(loss)
    base = float(loss(theta))
    out = []
    for b, eta0 in zip(B, eta_pred, strict=True):
        G = optim.minibatch_sampler(P)(float(b), draws, gen)
        U = torch.as_tensor(G if update == "sgd" else (np.sign(G) if update == "sign" else G / np.sqrt(G * G + eps**2)))
        etas = eta0 * np.geomspace(0.25, 4.0, 13)
        with torch.no_grad():
            dec = np.array([base - float(batched(theta - e * U).mean()) for e in etas])
        k = int(np.clip(np.argmax(dec), 1, len(etas) - 2))
        c = np.polyfit(np.log(etas[k - 1:k + 2]), dec[k - 1:k + 2], 2)
        out.append(math.exp(-c[1] / (2 * c[0])) if c[0] < 0 else etas[int(np.argmax(dec))])
    return np.array(out)


def main(draws: int = 2000, seed: int = 0, verbose: bool = True) -> dict[str, float]:
    calculator(verbose)
    z = experiment(draws, seed, verbose)
    horizon = short_horizon(draws, seed, verbose)
    out = torch_model(draws, seed, verbose)
    out.update(horizon)
    out["max_abs_z"] = z
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.draws, args.seed)
