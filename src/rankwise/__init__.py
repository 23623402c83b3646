"""rankwise: low-rank and structured matrix approximation for machine learning.

The public functions take NumPy arrays, torch tensors (any device) or other
array-API arrays and return results of the same library, device and dtype.
"""

from importlib.metadata import PackageNotFoundError, version

from . import optim as optim
from . import rates as rates
from . import retrieval as retrieval
from ._checks import InputError as InputError
from ._checks import InputTypeError as InputTypeError
from ._checks import RankwiseError as RankwiseError
from .approx import Approximation as Approximation
from .approx import approximate as approximate
from .factors import ApproxReport as ApproxReport
from .factors import SVDResult as SVDResult
from .linalg import ChainPlan as ChainPlan
from .linalg import CURResult as CURResult
from .linalg import ErrorEstimate as ErrorEstimate
from .linalg import IDResult as IDResult
from .linalg import LstsqResult as LstsqResult
from .linalg import NpyMatrix as NpyMatrix
from .linalg import StreamingSVD as StreamingSVD
from .linalg import chain_dot as chain_dot
from .linalg import chain_plan as chain_plan
from .linalg import cr_expected_error as cr_expected_error
from .linalg import cr_matmul as cr_matmul
from .linalg import cur as cur
from .linalg import estimate_error as estimate_error
from .linalg import interp_decomp as interp_decomp
from .linalg import lstsq as lstsq
from .linalg import pinv as pinv
from .linalg import range_finder as range_finder
from .linalg import select_rank as select_rank
from .linalg import svd as svd
from .linalg.rsvd import rsvd as rsvd
from .random import as_generator as as_generator
from .random import low_rank_matrix as low_rank_matrix
from .structured import monarch_project as monarch_project

try:
    __version__ = version("rankwise")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ApproxReport",
    "Approximation",
    "CURResult",
    "ChainPlan",
    "ErrorEstimate",
    "IDResult",
    "InputError",
    "InputTypeError",
    "LstsqResult",
    "NpyMatrix",
    "RankwiseError",
    "SVDResult",
    "StreamingSVD",
    "__version__",
    "approximate",
    "as_generator",
    "chain_dot",
    "chain_plan",
    "cr_expected_error",
    "cr_matmul",
    "cur",
    "estimate_error",
    "interp_decomp",
    "low_rank_matrix",
    "lstsq",
    "monarch_project",
    "optim",
    "pinv",
    "range_finder",
    "rates",
    "retrieval",
    "rsvd",
    "select_rank",
    "svd",
]
