"""rankwise: low-rank and structured matrix approximation for machine learning.

The public functions take NumPy arrays, torch tensors (any device) or other
array-API arrays and return results of the same library, device and dtype.
"""

from importlib.metadata import PackageNotFoundError, version

from . import optim as optim
from . import rates as rates
from ._checks import InputError as InputError
from ._checks import InputTypeError as InputTypeError
from ._checks import RankwiseError as RankwiseError
from .approx import Approximation as Approximation
from .approx import approximate as approximate
from .factors import ApproxReport as ApproxReport
from .factors import SVDResult as SVDResult
from .linalg import LstsqResult as LstsqResult
from .linalg import lstsq as lstsq
from .linalg import pinv as pinv
from .linalg import select_rank as select_rank
from .linalg import svd as svd
from .random import as_generator as as_generator
from .random import low_rank_matrix as low_rank_matrix

try:
    __version__ = version("rankwise")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ApproxReport",
    "Approximation",
    "InputError",
    "InputTypeError",
    "LstsqResult",
    "RankwiseError",
    "SVDResult",
    "__version__",
    "approximate",
    "as_generator",
    "low_rank_matrix",
    "lstsq",
    "optim",
    "pinv",
    "rates",
    "select_rank",
    "svd",
]
