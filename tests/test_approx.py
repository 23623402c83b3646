"""rankwise.approx's registry: every built-in method listed in one place, user methods added by register()."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from rankwise.approx import METHODS, Approximation, approximate, register

BUILTIN = {  # name: (summary, uses_rng, accepts_sparse), in the order the CLI lists them
    "svd": ("exact truncated SVD (LAPACK); exact errors", False, False),
    "rsvd": ("randomized SVD: block Krylov, at a rank or grown to a tolerance", True, True),
    "auto": ("exact SVD up to 1,000,000 entries, randomized above", True, True),
    "id": ("interpolative decomposition: k actual columns (option axis='rows': rows), pivoted QR or a sketch",
           True, True),
    "cur": ("CUR: k actual columns and rows, U = A[I, J]⁺ (option core='optimal': C⁺AR⁺)", True, True),
    "monarch": ("Monarch projection; --rank is the block rank, the report's rank the SVD rank of equal storage",
                False, False),
}

# Imports ``rankwise.<module>`` without running rankwise/__init__.py, so that nothing else of the
# package has been imported first, and prints what the registry holds and which modules were loaded.
_ISOLATED = """
import importlib.util, sys, types
spec = importlib.util.find_spec("rankwise")
sys.modules["rankwise"] = pkg = types.ModuleType("rankwise")
pkg.__path__ = list(spec.submodule_search_locations)
import rankwise.{module} as mod
print(list(getattr(mod, "METHODS", {{}})))
print("rankwise.approx" in sys.modules)
"""


def _isolated(module: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _ISOLATED.format(module=module)], capture_output=True, text=True,
                         check=True)
    return out.stdout.splitlines()


def test_builtin_methods() -> None:
    builtin = {name: m for name, m in METHODS.items() if name in BUILTIN}
    assert list(builtin) == list(BUILTIN)
    assert {name: (m.summary, m.uses_rng, m.accepts_sparse) for name, m in builtin.items()} == BUILTIN


def test_registry_is_complete_without_import_side_effects() -> None:
    assert _isolated("approx") == [str(list(BUILTIN)), "True"]


def test_structured_monarch_does_not_import_approx() -> None:
    assert _isolated("structured.monarch") == ["[]", "False"]


def test_register_adds_a_user_method() -> None:
    def first_columns(A: Any, *, rank: Any = None, **_: Any) -> Approximation:
        res = approximate(A[:, :rank], method="svd", rank=rank)
        return Approximation(res.factors, res.report)

    try:
        assert register("first-columns", "the SVD of the first columns")(first_columns) is first_columns
        assert METHODS["first-columns"].summary == "the SVD of the first columns"
        out = approximate(np.eye(4), method="first-columns", rank=2)
        assert out.report.rank == 2
        with pytest.raises(ValueError, match="register: method 'first-columns' is already registered"):
            register("first-columns", "again")(first_columns)
        with pytest.raises(ValueError, match="register: method 'svd' is already registered"):
            register("svd", "again")(first_columns)
    finally:
        METHODS.pop("first-columns", None)
    assert list(METHODS) == list(BUILTIN)
