"""Dense and randomized linear algebra: pseudo-inverse, least squares, SVDs, matrix chains."""

from .chain import ChainPlan as ChainPlan
from .chain import chain_dot as chain_dot
from .chain import chain_plan as chain_plan
from .pinv import LstsqResult as LstsqResult
from .pinv import lstsq as lstsq
from .pinv import pinv as pinv
from .svd import select_rank as select_rank
from .svd import svd as svd

__all__ = ["ChainPlan", "LstsqResult", "chain_dot", "chain_plan", "lstsq", "pinv", "select_rank", "svd"]
