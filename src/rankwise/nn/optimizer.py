"""A :class:`torch.optim.Optimizer` that runs a :mod:`rankwise.optim` transform.

The transforms are pure: ``u, state = update(g, state, p)``. This adapter keeps one transform
state per parameter in the optimizer's ``state`` (so ``state_dict`` / ``load_state_dict``,
device moves and checkpointing work as for any torch optimizer) and steps each parameter with
:func:`rankwise.optim.step_inplace` (``p += u`` under ``torch.no_grad()``, fused with the update
for SGD and Adam, whose moments are then updated in place as torch.optim does). rankwise's
transforms act leaf by leaf, so running one per parameter equals running it on the whole
parameter tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from .. import _checks
from ..optim.transforms import Transform, step_inplace

__all__ = ["TransformOptimizer", "torch_optimizer"]


def _flatten(state: Any) -> list[Any]:
    if isinstance(state, dict):
        return [leaf for v in state.values() for leaf in _flatten(v)]
    if isinstance(state, (tuple, list)):
        return [leaf for v in state for leaf in _flatten(v)]
    return [state]


def _unflatten(template: Any, leaves: list[Any], at: int = 0) -> tuple[Any, int]:
    if isinstance(template, dict):
        out = {}
        for k, v in template.items():
            out[k], at = _unflatten(v, leaves, at)
        return out, at
    if isinstance(template, (tuple, list)):
        items = []
        for v in template:
            item, at = _unflatten(v, leaves, at)
            items.append(item)
        if hasattr(template, "_fields"):  # a NamedTuple state
            return type(template)(*items), at
        return type(template)(items), at
    return leaves[at], at + 1


class TransformOptimizer(torch.optim.Optimizer):
    """``torch.optim`` face of a rankwise transform: ``opt.zero_grad(); loss.backward(); opt.step()``.

    Parameters
    ----------
    params
        The parameters (or parameter groups) to optimise, as for any torch optimizer.
    transform
        A :class:`rankwise.optim.Transform` producing *updates* (added to the parameters),
        e.g. ``rankwise.optim.adam(1e-3)``.

    Notes
    -----
    The state of parameter p is ``{"leaves": [...]}``, the tensors and counters of the
    transform's state in a fixed order (torch's ``load_state_dict`` copies lists and dicts,
    not NamedTuples); the structure is rebuilt from ``transform.init(p)``.

    Examples
    --------
    >>> import torch
    >>> from rankwise import optim
    >>> w = torch.nn.Parameter(torch.tensor([3.0]))
    >>> opt = TransformOptimizer([w], optim.sgd(0.25))
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w ** 2).sum().backward(); _ = opt.step()
    >>> round(float(w.detach()), 6)  # 3 · (1 − 2·0.25)²
    0.75
    """

    def __init__(self, params: Iterable[Any], transform: Transform) -> None:
        if not isinstance(transform, Transform):
            _checks._fail("TransformOptimizer", f"'transform' must be a rankwise.optim.Transform; got {transform!r} "
                                                f"({type(transform).__name__})", _checks.InputTypeError)
        super().__init__(params, {})
        self.transform = transform
        self._templates: dict[int, Any] = {}

    def _template(self, p: torch.Tensor) -> Any:
        t = self._templates.get(id(p))
        if t is None:
            t = self._templates[id(p)] = self.transform.init(p.detach())
        return t

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()`` when given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    _checks._fail("TransformOptimizer.step", "sparse gradients are not supported; got a sparse "
                                                             "gradient for a parameter of shape "
                                                             f"{tuple(p.shape)}")
                template = self._template(p)
                st = self.state[p]
                state = _unflatten(template, st["leaves"])[0] if "leaves" in st else template
                st["leaves"] = _flatten(step_inplace(self.transform, p.grad, state, p))
        return loss


def torch_optimizer(transform: Transform, params: Iterable[Any]) -> TransformOptimizer:
    """``transform`` as a ``torch.optim.Optimizer`` over ``params``: a :class:`TransformOptimizer`.

    >>> import torch
    >>> from rankwise import optim
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = torch_optimizer(optim.adam(0.1), [w])
    >>> (w ** 2).sum().backward(); _ = opt.step()
    >>> [round(v, 6) for v in w.detach().tolist()]  # Adam's first step moves each weight by lr
    [0.9, 0.9]
    """
    return TransformOptimizer(params, transform)
