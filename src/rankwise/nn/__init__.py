"""torch layers (imports torch): :class:`MonarchLinear`, a drop-in for ``torch.nn.Linear``."""

from .monarch import MonarchLinear as MonarchLinear

__all__ = ["MonarchLinear"]
