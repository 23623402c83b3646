"""Structured matrices: Monarch products and projection, S4 state-space kernels, rotary embeddings.

* :class:`Monarch`, :func:`monarch_project` (SPEC §1.6); ``approximate(A, method="monarch")``;
* :func:`hippo`, :func:`hippo_nplr`, :func:`discretize`, :func:`ssm_kernel`, :func:`ssm_apply`, and the
  state-matrix forms :class:`DPLR`, :class:`ConjugateDPLR` (S4's conjugate-pair form, via
  :attr:`NPLR.pairs`) (SPEC §1.7);
* :func:`rope`, :func:`rope_matrix`, :func:`rope_generator`, :func:`rope_exp` (SPEC §1.7).

The torch layer :class:`rankwise.nn.MonarchLinear` builds on :class:`Monarch`.
"""

from .monarch import Monarch as Monarch
from .monarch import monarch_project as monarch_project
from .rope import LAYOUTS as LAYOUTS
from .rope import rope as rope
from .rope import rope_exp as rope_exp
from .rope import rope_generator as rope_generator
from .rope import rope_matrix as rope_matrix
from .ssm import DPLR as DPLR
from .ssm import HIPPO_KINDS as HIPPO_KINDS
from .ssm import KERNEL_METHODS as KERNEL_METHODS
from .ssm import NPLR as NPLR
from .ssm import ConjugateDPLR as ConjugateDPLR
from .ssm import DiscreteSSM as DiscreteSSM
from .ssm import HiPPO as HiPPO
from .ssm import NPLRPairs as NPLRPairs
from .ssm import discretize as discretize
from .ssm import hippo as hippo
from .ssm import hippo_nplr as hippo_nplr
from .ssm import ssm_apply as ssm_apply
from .ssm import ssm_kernel as ssm_kernel

__all__ = [
    "DPLR",
    "HIPPO_KINDS",
    "KERNEL_METHODS",
    "LAYOUTS",
    "NPLR",
    "ConjugateDPLR",
    "DiscreteSSM",
    "HiPPO",
    "Monarch",
    "NPLRPairs",
    "discretize",
    "hippo",
    "hippo_nplr",
    "monarch_project",
    "rope",
    "rope_exp",
    "rope_generator",
    "rope_matrix",
    "ssm_apply",
    "ssm_kernel",
]
