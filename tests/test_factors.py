from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from rankwise.factors import ApproxReport, SVDResult, optimal_errors


def test_optimal_errors_eckart_young() -> None:
    s = np.array([5.0, 4.0, 3.0, 0.0])
    assert optimal_errors(s, 1) == (5.0, 4.0)
    assert optimal_errors(s, 4) == (0.0, 0.0)


def test_report_is_frozen_and_checked() -> None:
    rep = ApproxReport(method="svd", shape=(4, 3), rank=1, fro_error=3.0, norm_fro=5.0,
                       optimal_fro_error=3.0, options={"a": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.rank = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        rep.options["a"] = 2  # type: ignore[index]
    assert math.isclose(rep.energy, 1 - 9 / 25) and rep.fro_ratio == 1.0
    json.dumps(rep.to_dict())
    with pytest.raises(ValueError, match="'fro_error' must be a finite number"):
        ApproxReport(method="svd", shape=(4, 3), rank=1, fro_error=float("nan"), norm_fro=1.0)
    with pytest.raises(ValueError, match="'rank' must be >= 0"):
        ApproxReport(method="svd", shape=(4, 3), rank=-1, fro_error=0.0, norm_fro=1.0)


def test_svdresult_unpacks_like_numpy() -> None:
    U, S, Vh = SVDResult(np.eye(2), np.ones(2), np.eye(2))
    assert SVDResult._fields == np.linalg.svd(np.eye(2))._fields
