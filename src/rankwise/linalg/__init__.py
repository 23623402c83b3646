"""Dense and randomized linear algebra: pseudo-inverse, least squares, SVDs, matrix chains."""

from ._operator import NpyMatrix as NpyMatrix
from .chain import ChainPlan as ChainPlan
from .chain import chain_dot as chain_dot
from .chain import chain_plan as chain_plan
from .pinv import LstsqResult as LstsqResult
from .pinv import lstsq as lstsq
from .pinv import pinv as pinv
from .rsvd import rsvd as rsvd
from .sketch import ErrorEstimate as ErrorEstimate
from .sketch import estimate_error as estimate_error
from .sketch import range_finder as range_finder
from .streaming import StreamingSVD as StreamingSVD
from .svd import select_rank as select_rank
from .svd import svd as svd

__all__ = [
    "ChainPlan",
    "ErrorEstimate",
    "LstsqResult",
    "NpyMatrix",
    "StreamingSVD",
    "chain_dot",
    "chain_plan",
    "estimate_error",
    "lstsq",
    "pinv",
    "range_finder",
    "rsvd",
    "select_rank",
    "svd",
]
