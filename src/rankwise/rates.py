r"""Convergence rate of a sequence r_k → 0 (SPEC §2.2): linear, sublinear, superlinear, order p.

:func:`analyze` reads a measured or analytic sequence (errors ‖x_k − x*‖, gaps f(x_k) − f*,
gradient norms) and reports what kind of convergence it shows, with the root-test and
ratio-test estimates of the linear constant q, a regression estimate of q and of the order
p, the window the estimates were read from, and how confident the verdict is.

How the verdict is reached, on ℓ_k = log r_k:

1. **Usable part.** Values that are zero, negative, below the smallest normal number
   (underflow) or non-finite end the usable part, and so does a *floor*: the longest
   suffix (≥ 8 terms and ≥ 10% of them) whose decrease per unit of log k is below a
   tenth of that of the terms before it: the sequence has stopped decreasing at the
   rounding level; so does a shorter trailing run (≥ 3 terms) that stopped decreasing at
   ≤ 1000·eps of the largest term, as Newton's method leaves one. Terms within 10× of
   that floor's median level are dropped as well,
   since rounding makes up a tenth or more of them. ``floor=`` cuts at a known level instead.
2. **Window.** The last half of the usable part; the first half is read as the
   pre-asymptotic phase (or ``window=`` given explicitly).
3. **Order p.** With d_k = ℓ_{k+1} − ℓ_k, order-p convergence r_{k+1} ≈ C r_k^p gives
   d_{k+1}/d_k → p. When the last three such ratios of the usable part have median ≥ 1.3
   (and at least two exceed 1.15) while the steps are large, the kind is ``"quadratic"`` (|p − 2| ≤ 0.35) or
   ``"order"``.
4. **Trend of the per-step decrease.** Linear convergence has a constant slope of ℓ
   against k, sublinear a slope that vanishes (ℓ ≈ −s log k: slope −s/k), superlinear a
   slope that grows without bound (ℓ ≈ −k log k, −k², …). The slopes of ℓ on blocks of
   k are regressed log-log against the block centres: the exponent ε is 0 for linear, −1
   for r_k ~ k^{−s}, positive for superlinear. It is read on geometric blocks over the
   whole usable part (ε_geo, ranges of k up to 16×) and on three blocks of the window
   (ε_win). Superlinear needs both > 0.1, sublinear ε_geo < −0.3 and ε_win < −0.1;
   everything else with a negative slope is linear, with q = exp(slope) from the
   regression over the window.

5. **Quality gate.** A verdict must follow from the fit: ``"undetermined"`` (with the
   reason in ``notes`` and ``summary``) replaces it when the least-squares line through ℓ
   over the window explains less than ``R2_MIN`` of ℓ's variance (a plateau, noise), when
   the terms fell by less than a factor 10 over the window without being exactly
   geometric (too little progress to tell a rate: an unconverged run), when the window
   holds fewer than 4 terms that are not exactly geometric, and, for sublinear verdicts,
   when the fit on log k explains less than ``R2_MIN``. A sublinear trend whose ℓ fits a
   line in k better than a line in log k, or a superlinear one whose ℓ a parabola in k fits
   hardly better than a line (it removes less than half of the residual), is read as
   linear instead: noise makes block slopes drift. An order p is read only from a
   stable tail: the last three d_{k+1}/d_k all above 1.15, within 25% of p of each other,
   with every step of the last five decreasing.

**Input.** ``r`` must be real and non-negative and must not contain NaN: such terms are not
errors, gaps or norms, and are refused with ``ValueError`` (complex input with
``TypeError``). Zeros are exact convergence and end the usable part (a converged history
may end in zeros, or alternate zeros and rounding-level values). ``+inf`` (and a NaN after
it) is read only as the overflow that ends a diverging sequence; anywhere else it is refused.

The root test (q = limsup r_k^{1/k}) and the ratio test (lim r_{k+1}/r_k) are reported
as they read on the window: the root test's raw value carries the constant C^{1/k} and
approaches q slowly, which is why the regression slope is the estimate used for q.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from . import _array, _checks, _numerics

__all__ = ["RateReport", "analyze"]

Kind = Literal["linear", "sublinear", "superlinear", "quadratic", "order", "diverging", "inconclusive",
               "undetermined"]
R2_MIN = 0.8  # a verdict needs its fit to explain at least this share of the variance of log r_k
ROUNDING_LEVEL = 1e3  # a short trailing plateau at ≤ 1e3·eps of the largest term is rounding, not a rate
CURVED = 0.5  # a superlinear verdict needs a parabola in k to remove half of the line's residual
EXACT = 1e-9  # 1 − R² below this: the terms lie on the fitted line to rounding (an exact sequence)
Confidence = Literal["high", "medium", "low"]


@dataclass(frozen=True, slots=True)
class RateReport:
    """What :func:`analyze` found.

    Attributes
    ----------
    kind : str
        ``"linear"``, ``"sublinear"``, ``"superlinear"``, ``"quadratic"``, ``"order"`` (order
        p ≠ 2, see ``order``), ``"diverging"``, ``"inconclusive"`` (fewer than 3 usable terms,
        or no decrease) or ``"undetermined"`` (the terms decrease, but the fit does not
        support a verdict; ``notes[-1]`` says why).
    q : float or None
        The linear-convergence constant: the regression estimate for ``"linear"``, 0 for
        the superlinear kinds, 1 for ``"sublinear"``, the growth factor (> 1) for
        ``"diverging"``, None when inconclusive or undetermined.
    q_root : float or None
        Root test: r_K^{1/K} at the window's last index K.
    q_ratio : float or None
        Ratio test: the geometric mean of r_{k+1}/r_k over the window.
    ratio_inf, ratio_sup : float or None
        Smallest and largest r_{k+1}/r_k in the window (liminf / limsup estimates).
    q_fit : float or None
        exp(slope) of the least-squares line through log r_k over the window.
    order : float or None
        Estimate of p from d_{k+1}/d_k (≈ 1 for linear and most superlinear sequences).
    power : float or None
        s in r_k ≈ C k^{−s} (sublinear sequences only), fitted on log k over the span the
        trend was read on (k from K/16 to K), which then is the reported window.
    trend : float or None
        ε_geo, the exponent of the per-step decrease against k (0 linear, < 0 sublinear,
        > 0 superlinear).
    window : (int, int)
        Positions [start, stop) of the input the estimates were read from.
    usable : int
        How many leading terms were usable (before a zero, underflow or floor).
    floor_index : int or None
        Position of the first term cut as a floor (or zero / underflow / non-finite).
    confidence : {"high", "medium", "low"}
    notes : tuple of str
        Why: cuts made, tests that disagree, caveats.
    r2 : float or None
        R² of the fit the verdict rests on: the line through log r_k against k over the
        window (against log k for ``"sublinear"``); None for ``"quadratic"`` and ``"order"``
        (read from a stable tail of d_{k+1}/d_k instead) and when there was no fit.
    """

    kind: Kind
    q: float | None
    q_root: float | None
    q_ratio: float | None
    ratio_inf: float | None
    ratio_sup: float | None
    q_fit: float | None
    order: float | None
    power: float | None
    trend: float | None
    window: tuple[int, int]
    usable: int
    floor_index: int | None
    confidence: Confidence
    notes: tuple[str, ...] = field(default_factory=tuple)
    r2: float | None = None

    def __post_init__(self) -> None:
        if self.confidence not in ("high", "medium", "low"):
            raise ValueError(f"RateReport: 'confidence' must be high, medium or low; got {self.confidence!r}")
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "window", (int(self.window[0]), int(self.window[1])))

    @property
    def summary(self) -> str:
        """One line, e.g. ``linear, q = 0.3333 (confidence high)``."""
        if self.kind == "linear" or self.kind == "diverging":
            what = f"{self.kind}, q = {self.q:.4g}"
        elif self.kind == "sublinear":
            what = "sublinear" + (f", r_k ~ k^-{self.power:.3g}" if self.power is not None else "")
        elif self.kind in ("quadratic", "order"):
            what = f"{self.kind}, p = {self.order:.3g}"
        elif self.kind == "superlinear":
            what = "superlinear" + (f" (order estimate {self.order:.3g})" if self.order is not None else "")
        elif self.kind == "undetermined":
            what = "undetermined" + (f": {self.notes[-1]}" if self.notes else "")
        else:
            what = "inconclusive"
        return f"{what} (confidence {self.confidence})"

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["window"] = list(self.window)
        out["notes"] = list(self.notes)
        out["summary"] = self.summary
        return out

    def __str__(self) -> str:
        def f(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.6g}"

        lines = [self.summary,
                 f"  root test  r_K^(1/K)           {f(self.q_root)}",
                 f"  ratio test mean / inf / sup    {f(self.q_ratio)} / {f(self.ratio_inf)} / {f(self.ratio_sup)}",
                 f"  regression q, order p, power s {f(self.q_fit)}, {f(self.order)}, {f(self.power)}",
                 f"  R² of the fit                  {f(self.r2)}",
                 f"  window [{self.window[0]}, {self.window[1]}) of {self.usable} usable terms"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares y ≈ a + b x: (b, a, standard error of b)."""
    xm, ym = x.mean(), y.mean()
    sxx = float(np.sum((x - xm) ** 2))
    if sxx == 0:
        return 0.0, float(ym), math.inf
    b = float(np.sum((x - xm) * (y - ym)) / sxx)
    a = float(ym - b * xm)
    dof = x.size - 2
    res = y - (a + b * x)
    se = math.sqrt(float(np.sum(res**2)) / dof / sxx) if dof > 0 else math.inf
    return b, a, se


def _first_bad(r: np.ndarray, tiny: float, floor: float | None) -> tuple[int, str | None]:
    """Index of the first term that is not a usable positive normal number, and why."""
    bad = ~np.isfinite(r) | (r < tiny)
    if floor is not None:
        bad |= r <= floor
    idx = np.flatnonzero(bad)
    if idx.size == 0:
        return r.size, None
    i = int(idx[0])
    v = r[i]
    if np.isnan(v):
        why = f"r[{i}] is NaN: the usable part ends there"
    elif np.isinf(v):
        why = f"r[{i}] is infinite (overflow): the usable part ends there"
    elif floor is not None and v <= floor:
        why = f"r[{i}] = {v:.3g} is at or below the given floor {floor:.3g}"
    elif v <= 0:
        why = f"r[{i}] = {v:.3g} ≤ 0 (exact convergence, or rounding below the floor)"
    else:
        why = f"r[{i}] = {v:.3g} is below the smallest normal number (underflow)"
    return i, why


def _progress(ell: np.ndarray, logt: np.ndarray, a: int, b: int) -> tuple[float, float]:
    """(decrease of ℓ, increase of log t) between the first and the last quarter of [a, b), by medians."""
    h = max(1, (b - a) // 4)
    drop = float(np.median(ell[a:a + h]) - np.median(ell[b - h:b]))
    return drop, float(np.median(logt[b - h:b]) - np.median(logt[a:a + h]))


def _floor_start(ell: np.ndarray, logt: np.ndarray) -> int:
    """Start of the longest suffix that stopped making progress (n when there is none).

    A suffix [s, n) of at least max(8, n/10) terms is a floor when its decrease of ℓ per
    unit of log k is below a tenth of that of the terms just before it. Measuring progress
    against log k keeps sublinear sequences (constant progress per unit of log k) and
    linear ones (growing progress) from ever looking like a floor; medians make the test
    indifferent to noise and oscillations.
    """
    n = ell.size
    lmin = max(8, n // 10)
    if n - lmin < 4:
        return n
    step = max(1, (n - 4 - lmin) // 200)
    for length in range(n - 4, lmin - 1, -step):
        s = n - length
        before, span_before = _progress(ell, logt, max(0, s - length), s)
        if before <= 0 or span_before <= 0:
            continue
        after, span_after = _progress(ell, logt, s, n)
        if after < 0.1 * before / span_before * span_after:
            return s
    return n


def _exponent(centres: list[float], slopes: list[float]) -> float | None:
    """ε in |slope| ≈ A · centre^ε (None when fewer than two usable blocks)."""
    pairs = [(c, -s) for c, s in zip(centres, slopes, strict=True) if s < 0 and c > 0]
    if len(pairs) < 2:
        return None
    c = np.log([p[0] for p in pairs])
    m = np.log([p[1] for p in pairs])
    if np.ptp(c) == 0:
        return None
    return _line(c, m)[0]


def _block_slopes(t: np.ndarray, ell: np.ndarray, edges: list[tuple[int, int]]) -> tuple[list[float], list[float]]:
    cs, bs = [], []
    for a, b in edges:
        if b - a >= 2:
            cs.append(float(t[a:b].mean()))
            bs.append(_line(t[a:b], ell[a:b])[0])
    return cs, bs


def _geometric_edges(t: np.ndarray, blocks: int = 4) -> list[tuple[int, int]]:
    """Index ranges of t ∈ (T/2^{j+1}, T/2^j], j = 0 … blocks−1 (T the last position)."""
    edges = []
    hi = t.size
    top = t[-1]
    for j in range(blocks):
        lo_val = top / 2 ** (j + 1)
        lo = int(np.searchsorted(t, lo_val, side="right"))
        if hi - lo >= 2:
            edges.append((lo, hi))
        hi = lo
        if hi < 2:
            break
    return edges[::-1]


def _order(d: np.ndarray) -> float | None:
    """Median of the last three d_{k+1}/d_k when the steps accelerate (None otherwise)."""
    if d.size < 2:
        return None
    p = d[1:] / d[:-1]
    last = p[-3:]
    ok = (d[-last.size - 1:-1] < 0) & (d[-last.size:] < 0)
    if not np.all(ok):
        return None
    return float(np.median(last))


def _stable_order(p: float, d: np.ndarray) -> bool:
    """Whether p = :func:`_order` of d (read when the last four steps decrease, the last one by
    a factor 0.6 or more) comes from a stable tail of d_{k+1}/d_k.

    Order p needs the last (up to) five steps to decrease and the last three ratios to agree:
    all ≥ 1.15, median ≥ 1.3, spread ≤ p/4. A linear sequence (ratios ≈ 1) or an oscillating
    one (ratios scattered) never passes.
    """
    if not np.all(d[-5:] < 0) or p < 1.3:
        return False
    ps = d[1:][-3:] / d[:-1][-3:]
    return bool(np.all(ps >= 1.15) and float(np.ptp(ps)) <= 0.25 * p)


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    """Coefficient of determination of the least-squares line y ≈ a + b x (1 for a constant y)."""
    b, a, _ = _line(x, y)
    tss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - a - b * x) ** 2)) / tss if tss > 0 else 1.0


def _confidence(score: int) -> Confidence:
    return "high" if score >= 2 else ("medium" if score == 1 else "low")


def analyze(r: Any, *, start: int = 1, floor: float | None = None, window: tuple[int, int] | None = None
            ) -> RateReport:
    """Classify the convergence of a sequence r_k → 0 and estimate its rate.

    Parameters
    ----------
    r : array-like of shape (n,), n ≥ 3
        Non-negative terms (errors, gaps, gradient norms); NumPy, torch or any array.
    start : int, default=1
        The index k of ``r[0]``: the root test reads ``r[i] ** (1 / (start + i))`` and the
        sublinear fit log r_k ≈ c − s log k uses k = start + i. The default reads r as
        r_1, r_2, … as the seminar does; for an optimiser's history r_0, r_1, … the default
        shifts k by one, which changes no verdict.
    floor : float, optional
        A known noise floor: terms ≤ floor are not used.
    window : (int, int), optional
        Positions [a, b) to read the rates from, instead of the automatic choice.

    Returns
    -------
    RateReport

    Notes
    -----
    SPEC §2.2: linear means r_k ≤ C q^k with 0 < q < 1; sublinear (superlinear) means
    slower (faster) than every linear sequence; order p means r_{k+1} ≤ C r_k^p. Root test:
    q = limsup r_k^{1/k}. Ratio test: q = lim r_{k+1}/r_k when it exists; when
    liminf < 1 ≤ limsup the ratio test says nothing and the sequence may still be
    R-linear (the root test decides). The module docstring describes the procedure.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.arange(1, 40.0)
    >>> analyze(4 / 3**k).summary
    'linear, q = 0.3333 (confidence high)'
    >>> analyze(1 / k**10).kind, analyze(0.707 ** (2 ** np.arange(1, 12.0))).kind
    ('sublinear', 'quadratic')
    """
    func = "analyze"
    start = _checks.integer(start, func=func, name="start", lo=1)
    x, tiny, eps = _terms(r, func)
    n_all = x.size
    if n_all < 3:
        _checks._fail(func, f"'r' must have at least 3 terms; got {n_all}")
    if floor is not None:
        floor = _checks.real(floor, func=func, name="floor", lo=0.0)
    end, why = _first_bad(x, tiny, floor)
    notes = [why] if why else []
    overflow = end < n_all and bool(np.isinf(x[end]) and x[end] > 0)
    with np.errstate(divide="ignore"):
        ell = np.log(x[:end])
    stag = _floor_start(ell, np.log(np.arange(start, start + end, dtype=np.float64))) if end else end
    if stag == end:
        stag = _rounding_tail(ell, math.log(ROUNDING_LEVEL * eps))
    if stag < end:
        level = float(np.median(ell[stag:end]))
        above = np.flatnonzero(ell[:stag] > level + math.log(10.0))  # within 10× of the floor, rounding dominates
        cut = int(above[-1]) + 1 if above.size else 0
        notes.append(f"cut at position {cut}: from there on the terms are within 10× of a floor near "
                     f"{math.exp(level):.3g} (the last {end - stag} stop decreasing)")
        end = cut
    floor_index = end if end < n_all else None
    rep = _classify(ell[:end], x[:end], start, window, floor_index, notes, overflow)
    _overflow_only_when_diverging(x, rep, func)
    return rep


def _terms(r: Any, func: str) -> tuple[np.ndarray, float, float]:
    """``r`` as float64 NumPy, the smallest normal number and the epsilon of its dtype; NaN and
    negative, complex or non-numeric terms are refused (+inf is checked after the verdict)."""
    arr = _checks.array(r if hasattr(r, "shape") else np.asarray(r), func=func, name="r", ndim=1,
                        check_finite=False)
    x = _array.to_numpy(arr)
    if x.dtype.kind == "c":
        _checks._fail(func, f"'r' must be real (errors, gaps or norms); got dtype {x.dtype}", _checks.InputTypeError)
    dtype = x.dtype if x.dtype.kind == "f" else "float64"
    tiny, eps = _numerics.tiny(dtype), _numerics.eps(dtype)
    x = x.astype(np.float64)
    _checks.nonnegative(x, func=func, name="r")
    nan = np.flatnonzero(np.isnan(x))
    inf = np.flatnonzero(np.isinf(x))
    if nan.size and not (inf.size and inf[0] < nan[0]):
        _checks._fail(func, f"'r' must not contain NaN; got {nan.size} NaN value(s), the first r[{int(nan[0])}] "
                            "(only an overflow to inf may end a diverging sequence)")
    return x, tiny, eps


def _rounding_tail(ell: np.ndarray, rel_level: float) -> int:
    """Start of a trailing run of ≥ 3 terms that no longer decrease, at the rounding level
    (≤ ROUNDING_LEVEL · eps of the largest term), as a fast method leaves it: n when there is none."""
    n = ell.size
    i = n - 1
    while i > 0 and ell[i] >= ell[i - 1]:
        i -= 1
    if i < 2 or n - i < 3 or float(np.median(ell[i:])) > float(ell[:i].max()) + rel_level:
        return n
    return i


def _overflow_only_when_diverging(x: np.ndarray, rep: RateReport, func: str) -> None:
    """An infinite term is an overflow: refuse it unless it ends a diverging sequence."""
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size and rep.kind != "diverging":
        i = int(bad[0])
        _checks._fail(func, f"'r' must be finite; got r[{i}] = {float(x[i])!r} after terms read as {rep.kind} (an "
                            "infinite term is accepted only as the overflow that ends a diverging sequence)")


def _window(n: int, window: tuple[int, int] | None) -> tuple[int, int]:
    if window is None:
        return min(n // 2, max(n - 3, 0)), n
    if (not isinstance(window, (tuple, list)) or len(window) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in window)):
        _checks._fail("analyze", f"'window' must be a pair of ints (start, stop); got {window!r}",
                      _checks.InputTypeError)
    a, b = int(window[0]), int(window[1])
    if not (0 <= a and b <= n and b - a >= 3):
        _checks._fail("analyze", f"'window' must satisfy 0 <= start, stop <= {n} (usable terms) and stop - start >= 3;"
                                 f" got {window!r}")
    return a, b


def _inconclusive(n: int, floor_index: int | None, notes: list[str], why: str) -> RateReport:
    return RateReport("inconclusive", None, None, None, None, None, None, None, None, None, (0, n), n,
                      floor_index, "low", (*notes, why))


def _classify(ell: np.ndarray, x: np.ndarray, start: int, window: tuple[int, int] | None,
              floor_index: int | None, notes: list[str], overflow: bool) -> RateReport:
    n = ell.size
    if n < 3:
        if overflow:
            return RateReport("diverging", math.inf, None, None, None, None, None, None, None, None, (0, n), n,
                              floor_index, "medium", (*notes, "the sequence overflows"))
        return _inconclusive(n, floor_index, notes, f"only {n} usable term(s); need at least 3")
    a, b = _window(n, window)
    t = np.arange(start, start + n, dtype=np.float64)
    tw, lw = t[a:b], ell[a:b]
    slope, _, _ = _line(tw, lw)
    d = np.diff(lw)
    ratios = np.exp(d)
    q_root = float(math.exp(lw[-1] / tw[-1]))
    q_ratio = float(math.exp(d.mean()))
    base = dict(q_root=q_root, q_ratio=q_ratio, ratio_inf=float(ratios.min()), ratio_sup=float(ratios.max()),
                q_fit=float(math.exp(slope)), window=(a, b), usable=n, floor_index=floor_index)
    if slope > 0 and (overflow or lw[-1] - lw[0] > math.log(2.0)):
        return RateReport("diverging", float(math.exp(slope)), order=None, power=None, trend=None,
                          confidence="high" if b - a >= 5 else "medium",
                          notes=(*notes, "the terms grow: r_k is not converging to 0"), **base)  # type: ignore[arg-type]
    if not slope < 0:
        return _inconclusive(n, floor_index, notes, "no decrease over the window")
    d_all = np.diff(ell)
    p = _order(d_all) if np.all(d_all[-4:] < 0) and d_all[-1] < math.log(0.6) else None
    if p is not None and _stable_order(p, d_all):
        return _order_report(p, d_all, base, notes)
    edges_geo = _geometric_edges(t)
    eps_geo = _exponent(*_block_slopes(t, ell, edges_geo))
    thirds = [a + (b - a) * j // 3 for j in range(4)]
    win_edges = [(thirds[j], thirds[j + 1] + (1 if j < 2 else 0)) for j in range(3)]
    if b - a < 6:
        win_edges = [(i, i + 2) for i in range(a, b - 1)]
    eps_win = _exponent(*_block_slopes(t, ell, win_edges))
    geo_start = edges_geo[0][0] if edges_geo else a
    rep = _trend_report(ell, t, (a, b), eps_geo, eps_win, p, base, notes, len(edges_geo), geo_start)
    if rep.kind == "sublinear" and _r2(t[geo_start:b], ell[geo_start:b]) >= _r2(np.log(t[geo_start:b]),
                                                                                  ell[geo_start:b]):
        why = (f"the trend looked sublinear, but over [{geo_start}, {b}) a line in k fits log r_k better than a "
               "line in log k: read as linear")
        rep = _trend_report(ell, t, (a, b), eps_geo, eps_win, p, base, [*notes, why], len(edges_geo), geo_start,
                            linear_only=True)
    if rep.kind == "superlinear" and _curvature_share(t[a:b], ell[a:b]) < CURVED:
        why = (f"the trend looked superlinear, but over the window [{a}, {b}) a parabola in k fits log r_k hardly "
               "better than a line: read as linear")
        rep = _trend_report(ell, t, (a, b), eps_geo, eps_win, p, base, [*notes, why], len(edges_geo), geo_start,
                            linear_only=True)
    return _gate(rep, ell, t)


def _curvature_share(x: np.ndarray, y: np.ndarray) -> float:
    """The share of the line's residual sum of squares that a parabola removes (0 … 1)."""
    if x.size < 4:
        return 1.0
    line = np.polynomial.polynomial.polyfit(x, y, 1)
    para = np.polynomial.polynomial.polyfit(x, y, 2)
    r1 = float(np.sum((y - np.polynomial.polynomial.polyval(x, line)) ** 2))
    r2 = float(np.sum((y - np.polynomial.polynomial.polyval(x, para)) ** 2))
    return 1.0 - r2 / r1 if r1 > 0 else 1.0


def _gate(rep: RateReport, ell: np.ndarray, t: np.ndarray) -> RateReport:
    """``rep`` with its fit's R², or an ``"undetermined"`` report when that fit cannot carry the verdict."""
    a, b = rep.window
    if rep.kind == "sublinear":
        r2 = _r2(np.log(t[a:b]), ell[a:b])
        why = (f"the fit of log r_k on log k over [{a}, {b}) has R² = {r2:.2f} < {R2_MIN}: the terms do not "
               "follow a power law (noise or a plateau)") if r2 < R2_MIN else None
    else:
        r2 = _r2(t[a:b], ell[a:b])
        drop = float(ell[a] - ell[b - 1])
        exact = 1.0 - r2 <= EXACT
        why = None
        if r2 < R2_MIN:
            why = (f"the line through log r_k over the window [{a}, {b}) has R² = {r2:.2f} < {R2_MIN}: the terms "
                   "do not follow a rate (noise or a plateau)")
        elif not exact and drop < math.log(10.0):
            why = (f"the terms fell by only a factor {math.exp(drop):.3g} over the window [{a}, {b}) and not "
                   "exactly geometrically: too little progress to tell the rate (run longer)")
        elif not exact and b - a < 4:
            why = f"only {b - a} terms in the window [{a}, {b}) and they are not exactly geometric"
    if why is None:
        return replace(rep, r2=r2)
    return replace(rep, kind="undetermined", q=None, power=None, confidence="low", notes=(*rep.notes, why), r2=r2)


def _order_report(p: float, d: np.ndarray, base: dict[str, Any], notes: list[str]) -> RateReport:
    kind: Kind = "quadratic" if abs(p - 2.0) <= 0.35 else "order"
    ps = d[1:][-3:] / d[:-1][-3:]
    score = int(ps.size >= 3) + int(float(np.ptp(ps)) <= 0.1 * p)
    return RateReport(kind, 0.0, order=p, power=None, trend=None, confidence=_confidence(score),
                      notes=(*notes, f"d_(k+1)/d_k over the last steps: {', '.join(f'{v:.3g}' for v in ps)}"),
                      **base)


def _trend_report(ell: np.ndarray, t: np.ndarray, win: tuple[int, int], eps_geo: float | None,
                  eps_win: float | None, p: float | None, base: dict[str, Any], notes: list[str],
                  n_blocks: int, geo_start: int, *, linear_only: bool = False) -> RateReport:
    a, b = win
    out_notes = list(notes)

    def skipped(first: int) -> tuple[str, ...]:
        return (f"the first {first} usable terms are read as the pre-asymptotic phase",) if first > 0 else ()

    if base["ratio_sup"] >= 1.0:
        if base["ratio_inf"] < 1.0:
            out_notes.append("not monotone: liminf r_(k+1)/r_k < 1 <= limsup, so the ratio test is inconclusive; "
                             "the root test and the regression decide (R-linear at best)")
    g = eps_geo if eps_geo is not None else eps_win
    w = eps_win if eps_win is not None else eps_geo
    if base["ratio_sup"] >= 1.0 and b - a < 20:
        out_notes.append("too few terms of a non-monotone sequence to tell a changing rate from noise: "
                         "read as linear")
        g = w = None
    order = p if p is not None else None
    if linear_only:
        g = w = None
    if g is not None and w is not None and g > 0.1 and w > 0.1:
        score = int(g > 0.15 and w > 0.15) + int(b - a >= 6)
        return RateReport("superlinear", 0.0, order=order, power=None, trend=g, confidence=_confidence(score),
                          notes=(*out_notes, *skipped(a),
                                 f"the per-step decrease keeps growing (ε = {g:.2f}, window {w:.2f}): "
                                             "the ratio and root tests tend to 0"), **base)
    if g is not None and g < -0.3 and (w is None or w < -0.1):
        s = -_line(np.log(t[geo_start:b]), ell[geo_start:b])[0]  # on log k, the whole span the trend was read on
        score = int(g < -0.6) + int(n_blocks >= 3)
        return RateReport("sublinear", 1.0, order=order, power=s, trend=g, confidence=_confidence(score),
                          notes=(*out_notes, *skipped(geo_start),
                                 f"the per-step decrease vanishes (ε = {g:.2f}): r_(k+1)/r_k → 1; "
                                             f"the power s is fitted on log k over [{geo_start}, {b})"),
                          **{**base, "window": (geo_start, b)})
    slope, intercept, se = _line(t[a:b], ell[a:b])
    q = float(math.exp(slope))
    score = int(b - a >= 10) + int((g is None or abs(g) < 0.1) and (w is None or abs(w) < 0.1))
    if g is None and w is None and not linear_only:
        score = 0
        out_notes.append("too few terms to check that the rate is constant")
    spread = abs(math.log(base["q_ratio"]) - slope) / abs(slope)
    if spread > 0.05:
        score = min(score, 1)
        out_notes.append(f"the ratio test's mean and the regression differ by {100 * spread:.0f}%")
    return RateReport("linear", q, order=order, power=None, trend=g, confidence=_confidence(score),
                      notes=(*skipped(a), *out_notes), **base)
