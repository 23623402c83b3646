"""Dense and randomized linear algebra: pseudo-inverse, least squares, SVDs."""

from .pinv import LstsqResult as LstsqResult
from .pinv import lstsq as lstsq
from .pinv import pinv as pinv
from .svd import select_rank as select_rank
from .svd import svd as svd

__all__ = ["LstsqResult", "lstsq", "pinv", "select_rank", "svd"]
