"""torch layers and model tools (imports torch).

:class:`MonarchLinear`, a drop-in for ``torch.nn.Linear``; LoRA adapters
(:class:`LoRALinear`, :func:`add_lora`, :func:`merge_lora`), their extraction from a
fine-tuned checkpoint (:func:`extract_lora`) and PEFT's on-disk format
(:func:`load_adapter`, :meth:`LoRAAdapter.save`); low-rank compression of a model's
linear layers (:func:`compress`); safetensors checkpoints read one tensor at a time
(:class:`Checkpoint`); :class:`TransformOptimizer` (:func:`torch_optimizer`), a
``torch.optim.Optimizer`` running a :mod:`rankwise.optim` transform.
"""

from .checkpoint import Checkpoint as Checkpoint
from .checkpoint import write_safetensors as write_safetensors
from .compression import Calibration as Calibration
from .compression import CompressionReport as CompressionReport
from .compression import LayerCompression as LayerCompression
from .compression import LowRankLinear as LowRankLinear
from .compression import calibrate as calibrate
from .compression import compress as compress
from .extract import LayerExtraction as LayerExtraction
from .extract import extract_lora as extract_lora
from .lora import LoRALinear as LoRALinear
from .lora import add_lora as add_lora
from .lora import lora_parameters as lora_parameters
from .lora import match_targets as match_targets
from .lora import merge_lora as merge_lora
from .monarch import MonarchLinear as MonarchLinear
from .optimizer import TransformOptimizer as TransformOptimizer
from .optimizer import torch_optimizer as torch_optimizer
from .peft_io import LoRAAdapter as LoRAAdapter
from .peft_io import LoRAFactors as LoRAFactors
from .peft_io import apply_adapter as apply_adapter
from .peft_io import load_adapter as load_adapter
from .per_example import batch_grads as batch_grads
from .per_example import loss_hvp as loss_hvp
from .per_example import per_example_grads as per_example_grads
from .vq import VectorQuantizer as VectorQuantizer
from .vq import VQResult as VQResult

__all__ = [
    "Calibration",
    "Checkpoint",
    "CompressionReport",
    "LayerCompression",
    "LayerExtraction",
    "LoRAAdapter",
    "LoRAFactors",
    "LoRALinear",
    "LowRankLinear",
    "MonarchLinear",
    "TransformOptimizer",
    "VQResult",
    "VectorQuantizer",
    "add_lora",
    "apply_adapter",
    "batch_grads",
    "calibrate",
    "compress",
    "extract_lora",
    "load_adapter",
    "lora_parameters",
    "loss_hvp",
    "match_targets",
    "merge_lora",
    "per_example_grads",
    "torch_optimizer",
    "write_safetensors",
]
