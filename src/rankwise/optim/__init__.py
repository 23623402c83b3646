"""Optimisation: transforms (optax-style), schedules, problems, and a driver that records every run.

The package needs neither torch nor :mod:`rankwise.nn`; a transform runs as a ``torch.optim.Optimizer``
through :func:`rankwise.nn.torch_optimizer`.

>>> import numpy as np
>>> from rankwise import optim
>>> q = optim.Quadratic.with_spectrum([1.0, 100.0], rng=0)
>>> res = optim.minimize(q, np.zeros(2), method="nesterov", stop=optim.Stop(gtol=1e-8))
>>> res.status.name, bool(np.allclose(res.x, q.x_star))
('GTOL', True)
"""

from .lr_scaling import UPDATES as UPDATES
from .lr_scaling import EpsRange as EpsRange
from .lr_scaling import HorizonLR as HorizonLR
from .lr_scaling import HorizonRow as HorizonRow
from .lr_scaling import LRScalingReport as LRScalingReport
from .lr_scaling import LRScalingRow as LRScalingRow
from .lr_scaling import NoiseScale as NoiseScale
from .lr_scaling import NoiseStats as NoiseStats
from .lr_scaling import OptimalLR as OptimalLR
from .lr_scaling import ProblemSummary as ProblemSummary
from .lr_scaling import SimulatedLR as SimulatedLR
from .lr_scaling import adam_eps_range as adam_eps_range
from .lr_scaling import gaussian_sampler as gaussian_sampler
from .lr_scaling import lr_scaling_experiment as lr_scaling_experiment
from .lr_scaling import measure_horizon_lr as measure_horizon_lr
from .lr_scaling import measure_optimal_lr as measure_optimal_lr
from .lr_scaling import minibatch_sampler as minibatch_sampler
from .lr_scaling import noise_stats as noise_stats
from .lr_scaling import optimal_lr as optimal_lr
from .lr_scaling import sgd_horizon_loss as sgd_horizon_loss
from .lr_scaling import two_batch_noise_scale as two_batch_noise_scale
from .minimize import METHODS as METHODS
from .minimize import History as History
from .minimize import IterInfo as IterInfo
from .minimize import Method as Method
from .minimize import OptimizeError as OptimizeError
from .minimize import OptimizeResult as OptimizeResult
from .minimize import Status as Status
from .minimize import Stop as Stop
from .minimize import batches as batches
from .minimize import minimize as minimize
from .problems import LinearRegression as LinearRegression
from .problems import LogisticRegression as LogisticRegression
from .problems import Quadratic as Quadratic
from .schedules import Schedule as Schedule
from .schedules import constant as constant
from .schedules import exponential_decay as exponential_decay
from .schedules import inverse_time as inverse_time
from .schedules import step_decay as step_decay
from .schedules import warmup_cosine as warmup_cosine
from .transforms import EmptyState as EmptyState
from .transforms import ScaleByAdamState as ScaleByAdamState
from .transforms import ScaleByRmsState as ScaleByRmsState
from .transforms import ScaleByScheduleState as ScaleByScheduleState
from .transforms import TraceState as TraceState
from .transforms import Transform as Transform
from .transforms import adam as adam
from .transforms import adamw as adamw
from .transforms import add_decayed_weights as add_decayed_weights
from .transforms import apply_updates as apply_updates
from .transforms import chain as chain
from .transforms import momentum as momentum
from .transforms import nesterov as nesterov
from .transforms import rmsprop as rmsprop
from .transforms import scale as scale
from .transforms import scale_by_adam as scale_by_adam
from .transforms import scale_by_learning_rate as scale_by_learning_rate
from .transforms import scale_by_rms as scale_by_rms
from .transforms import scale_by_schedule as scale_by_schedule
from .transforms import sgd as sgd
from .transforms import step_inplace as step_inplace
from .transforms import trace as trace

__all__ = [
    "METHODS", "UPDATES", "EmptyState", "EpsRange", "History", "HorizonLR", "HorizonRow", "IterInfo",
    "LRScalingReport", "LRScalingRow", "LinearRegression", "LogisticRegression", "Method", "NoiseScale", "NoiseStats",
    "OptimalLR", "OptimizeError", "OptimizeResult", "ProblemSummary", "Quadratic", "ScaleByAdamState",
    "ScaleByRmsState", "ScaleByScheduleState", "Schedule", "SimulatedLR", "Status", "Stop", "TraceState", "Transform",
    "adam", "adam_eps_range", "adamw", "add_decayed_weights", "apply_updates", "batches", "chain", "constant",
    "exponential_decay", "gaussian_sampler", "inverse_time", "lr_scaling_experiment", "measure_horizon_lr",
    "measure_optimal_lr", "minibatch_sampler", "minimize", "momentum", "nesterov", "noise_stats", "optimal_lr",
    "rmsprop", "scale", "scale_by_adam", "scale_by_learning_rate", "scale_by_rms", "scale_by_schedule", "sgd",
    "sgd_horizon_loss", "step_decay", "step_inplace", "trace", "two_batch_noise_scale", "warmup_cosine",
]
