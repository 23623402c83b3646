"""Dense and randomized linear algebra: pseudo-inverse, least squares, SVDs, matrix chains."""

from .._checks import ToleranceWarning as ToleranceWarning
from ._operator import NpyMatrix as NpyMatrix
from ._operator import Operator as Operator
from .chain import ChainPlan as ChainPlan
from .chain import chain_dot as chain_dot
from .chain import chain_plan as chain_plan
from .matmul import cr_expected_error as cr_expected_error
from .matmul import cr_matmul as cr_matmul
from .pinv import LstsqResult as LstsqResult
from .pinv import lstsq as lstsq
from .pinv import pinv as pinv
from .rsvd import Fallback as Fallback
from .rsvd import RSVDPlan as RSVDPlan
from .rsvd import Scheme as Scheme
from .rsvd import rsvd as rsvd
from .rsvd import rsvd_plan as rsvd_plan
from .skeleton import CURResult as CURResult
from .skeleton import IDPlan as IDPlan
from .skeleton import IDResult as IDResult
from .skeleton import cur as cur
from .skeleton import id_plan as id_plan
from .skeleton import interp_decomp as interp_decomp
from .sketch import ErrorEstimate as ErrorEstimate
from .sketch import estimate_error as estimate_error
from .sketch import range_finder as range_finder
from .streaming import StreamingSVD as StreamingSVD
from .svd import select_rank as select_rank
from .svd import svd as svd

__all__ = [
    "CURResult",
    "ChainPlan",
    "ErrorEstimate",
    "Fallback",
    "IDPlan",
    "IDResult",
    "LstsqResult",
    "NpyMatrix",
    "Operator",
    "RSVDPlan",
    "Scheme",
    "StreamingSVD",
    "ToleranceWarning",
    "chain_dot",
    "chain_plan",
    "cr_expected_error",
    "cr_matmul",
    "cur",
    "estimate_error",
    "id_plan",
    "interp_decomp",
    "lstsq",
    "pinv",
    "range_finder",
    "rsvd",
    "rsvd_plan",
    "select_rank",
    "svd",
]
