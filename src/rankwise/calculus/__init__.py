"""Matrix calculus: gradient checks and symbolic gradients of matrix expressions (SPEC §3).

* :func:`check_grad` compares an analytic gradient with central differences and the
  Taylor remainder, for scalar functions of vectors and matrices (NumPy or torch).
* :func:`gradient` derives ∇f symbolically for an expression over named matrices and
  vectors, built in Python or parsed from text (:func:`parse`), and returns it simplified,
  printable as text or LaTeX and callable on NumPy arrays.
"""

from .check import GradCheck as GradCheck
from .check import check_grad as check_grad
from .derive import Gradient as Gradient
from .derive import gradient as gradient
from .evaluate import evaluate as evaluate
from .expr import Expr as Expr
from .expr import ExpressionError as ExpressionError
from .expr import det as det
from .expr import exp as exp
from .expr import hadamard as hadamard
from .expr import inner as inner
from .expr import inv as inv
from .expr import log as log
from .expr import logdet as logdet
from .expr import matrix as matrix
from .expr import norm as norm
from .expr import scalar as scalar
from .expr import tr as tr
from .expr import vector as vector
from .parse import ParseError as ParseError
from .parse import parse as parse

__all__ = [
    "Expr", "ExpressionError", "GradCheck", "Gradient", "ParseError", "check_grad", "det", "evaluate", "exp",
    "gradient", "hadamard", "inner", "inv", "log", "logdet", "matrix", "norm", "parse", "scalar", "tr", "vector",
]
