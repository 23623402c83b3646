"""Per-example gradients, mini-batch gradients and Hessian-vector products of a torch model.

The inputs of the gradient-noise statistics in :mod:`rankwise.optim.lr_scaling`:
:func:`per_example_grads` (``torch.func``: ``vmap`` of ``grad``) feeds
:func:`rankwise.optim.noise_stats`, :func:`batch_grads` (ordinary mean gradients over random
batches, for McCandlish's two-batch estimator :func:`rankwise.optim.two_batch_noise_scale`) and
:func:`loss_hvp` gives the ``hess=`` argument of :func:`rankwise.optim.optimal_lr`.

Parameters are flattened in the order of ``model.named_parameters()`` (those with
``requires_grad``), so every column of :func:`per_example_grads` and every entry of a vector
passed to :func:`loss_hvp` names the same scalar parameter. ``loss_fn(outputs, targets)``
must return the *mean* loss over the batch (as ``torch.nn.functional.mse_loss`` and
``cross_entropy`` do by default); on a batch of one it is that example's loss. torch is
imported when a function is called, not when :mod:`rankwise.nn` is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._checks import InputError, InputTypeError, integer
from ..random import as_generator

__all__ = ["batch_grads", "loss_hvp", "per_example_grads"]

LossFn = Callable[[Any, Any], Any]


def _state(model: Any, func: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainable parameters, buffers) of ``model``, detached."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise InputTypeError(f"{func}: 'model' must be a torch.nn.Module; got {type(model).__name__}")
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    if not params:
        raise InputError(f"{func}: 'model' must have parameters with requires_grad=True; got none")
    return params, {k: v.detach() for k, v in model.named_buffers()}


def _data(inputs: Any, targets: Any, func: str) -> int:
    import torch

    for name, x in (("inputs", inputs), ("targets", targets)):
        if not isinstance(x, torch.Tensor) or x.ndim == 0:
            raise InputTypeError(f"{func}: '{name}' must be a torch tensor with a batch dimension; got "
                                 f"{type(x).__name__}{'' if not isinstance(x, torch.Tensor) else ' of shape ()'}")
    if inputs.shape[0] != targets.shape[0] or inputs.shape[0] == 0:
        raise InputError(f"{func}: 'inputs' and 'targets' must have the same non-zero number of rows; got "
                         f"{inputs.shape[0]} and {targets.shape[0]}")
    return int(inputs.shape[0])


def _flatten(grads: dict[str, Any], names: list[str], rows: int | None) -> Any:
    import torch

    if rows is None:
        return torch.cat([grads[k].reshape(-1) for k in names])
    return torch.cat([grads[k].reshape(rows, -1) for k in names], dim=1)


def per_example_grads(model: Any, loss_fn: LossFn, inputs: Any, targets: Any, *,
                      chunk_size: int | None = None) -> Any:
    """The gradient of each example's loss with respect to the trainable parameters.

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated functionally (``torch.func.functional_call``) at its current parameters;
        modules whose output for one example depends on the rest of the batch (batch norm in
        training mode) do not have per-example gradients.
    loss_fn : callable
        ``loss_fn(outputs, targets)``, the mean loss over a batch.
    inputs, targets : torch.Tensor
        N examples along the first dimension.
    chunk_size : int, optional
        Examples per vectorised chunk (``vmap``'s ``chunk_size``), to bound memory.

    Returns
    -------
    torch.Tensor of shape (N, P)
        Row i is ∇_θ loss(model(x_i), y_i), flattened (P trainable scalars); their mean is the
        gradient of the mean loss.

    Examples
    --------
    >>> import torch
    >>> lin = torch.nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[1.0, -1.0]]))
    >>> X, y = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[0.0], [0.0]])
    >>> per_example_grads(lin, torch.nn.functional.mse_loss, X, y).tolist()
    [[2.0, 0.0], [0.0, -8.0]]
    """
    import torch
    from torch.func import functional_call, grad, vmap

    func = "per_example_grads"
    params, buffers = _state(model, func)
    n = _data(inputs, targets, func)
    if chunk_size is not None:
        chunk_size = integer(chunk_size, func=func, name="chunk_size", lo=1)

    def loss_one(p: dict[str, Any], x: Any, y: Any) -> Any:
        return loss_fn(functional_call(model, (p, buffers), (x.unsqueeze(0),)), y.unsqueeze(0))

    with torch.no_grad():
        grads = vmap(grad(loss_one), in_dims=(None, 0, 0), chunk_size=chunk_size)(params, inputs, targets)
    return _flatten(grads, list(params), n)


def batch_grads(model: Any, loss_fn: LossFn, inputs: Any, targets: Any, batch_size: int, *, n_batches: int,
                rng: Any = None) -> Any:
    """Mean gradients over ``n_batches`` random batches of ``batch_size`` examples (with replacement).

    Drawing with replacement makes each batch gradient's covariance exactly Σ/B (Σ the
    per-example covariance of the data), as :func:`rankwise.optim.two_batch_noise_scale`
    assumes. Nothing is computed per example.

    Parameters
    ----------
    model, loss_fn, inputs, targets
        As for :func:`per_example_grads`.
    batch_size : int
    n_batches : int
    rng : None, int, numpy Generator or torch.Generator

    Returns
    -------
    torch.Tensor of shape (n_batches, P)

    Examples
    --------
    >>> import torch
    >>> lin = torch.nn.Linear(3, 1)
    >>> X, y = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)), torch.zeros(50, 1)
    >>> G = batch_grads(lin, torch.nn.functional.mse_loss, X, y, 8, n_batches=5, rng=0)
    >>> tuple(G.shape)
    (5, 4)
    """
    import torch
    from torch.func import functional_call, grad

    func = "batch_grads"
    params, buffers = _state(model, func)
    n = _data(inputs, targets, func)
    b = integer(batch_size, func=func, name="batch_size", lo=1)
    k = integer(n_batches, func=func, name="n_batches", lo=1)
    if isinstance(rng, torch.Generator):
        idx = torch.randint(0, n, (k, b), generator=rng)
    else:
        idx = torch.as_tensor(as_generator(rng, func=func).integers(0, n, size=(k, b)))

    def loss(p: dict[str, Any], x: Any, y: Any) -> Any:
        return loss_fn(functional_call(model, (p, buffers), (x,)), y)

    dev = inputs.device
    with torch.no_grad():
        rows = [_flatten(grad(loss)(params, inputs[i.to(dev)], targets[i.to(dev)]), list(params), None) for i in idx]
    return torch.stack(rows)


def loss_hvp(model: Any, loss_fn: LossFn, inputs: Any, targets: Any) -> Callable[[Any], np.ndarray]:
    """v ↦ ∇²L(θ) v for the mean loss L over (inputs, targets), at the model's current parameters.

    The result takes and returns float64 NumPy vectors of length P (the order of
    :func:`per_example_grads`' columns), computed in the parameters' dtype by reverse-over-reverse
    differentiation (the gradient of θ ↦ ∇L(θ)·v, with ``torch.func.grad``): the ``hess=`` argument of
    :func:`rankwise.optim.optimal_lr` and :func:`rankwise.optim.noise_stats`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> lin = torch.nn.Linear(2, 1, bias=False, dtype=torch.float64)
    >>> X, y = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64)
    >>> hvp = loss_hvp(lin, torch.nn.functional.mse_loss, X, y)
    >>> np.stack([hvp(e) for e in np.eye(2)]).tolist()  # (2/N) XᵀX
    [[2.0, 1.0], [1.0, 1.0]]
    """
    import torch
    from torch.func import functional_call, grad

    func = "loss_hvp"
    params, buffers = _state(model, func)
    _data(inputs, targets, func)
    names = list(params)
    shapes = [params[k].shape for k in names]
    sizes = [params[k].numel() for k in names]
    theta = _flatten(params, names, None)

    def loss_flat(flat: Any) -> Any:
        p = {k: t.reshape(s) for k, t, s in zip(names, torch.split(flat, sizes), shapes, strict=True)}
        return loss_fn(functional_call(model, (p, buffers), (inputs,)), targets)

    def hvp(v: Any) -> np.ndarray:
        vec = torch.as_tensor(np.asarray(v), dtype=theta.dtype, device=theta.device).reshape(-1)
        if vec.numel() != theta.numel():
            raise InputError(f"{func}: 'v' must have {theta.numel()} entries (one per parameter); got {vec.numel()}")
        with torch.no_grad():
            out = grad(lambda th: torch.dot(grad(loss_flat)(th), vec))(theta)
        return out.detach().cpu().numpy().astype(np.float64)

    return hvp
