"""Exact truncated SVD: rankwise.svd against LAPACK through NumPy, SciPy (gesdd) and torch."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.harness import Case


def _rankwise(A: np.ndarray, case: Case) -> Any:
    import rankwise

    return rankwise.svd(A, case.rank)


def _numpy(A: np.ndarray, case: Case) -> Any:
    U, S, Vh = np.linalg.svd(A, full_matrices=False)
    return U[:, : case.rank], S[: case.rank], Vh[: case.rank]


def _scipy(A: np.ndarray, case: Case) -> Any:
    import scipy.linalg

    U, S, Vh = scipy.linalg.svd(A, full_matrices=False, lapack_driver="gesdd")
    return U[:, : case.rank], S[: case.rank], Vh[: case.rank]


def _torch(A: np.ndarray, case: Case) -> Any:
    import torch

    U, S, Vh = torch.linalg.svd(torch.from_numpy(A), full_matrices=False)
    return U[:, : case.rank], S[: case.rank], Vh[: case.rank]


TOOLS = {"rankwise": _rankwise, "numpy.linalg.svd": _numpy, "scipy.linalg.svd (gesdd)": _scipy,
         "torch.linalg.svd": _torch}


def cases(quick: bool) -> list[Case]:
    if quick:
        return [Case("0.9^i", (300, 200), "exp", 20)]
    return [Case("0.9^i", (2000, 1500), "exp", 50), Case("1/(i+1)", (2000, 1500), "poly", 50)]
