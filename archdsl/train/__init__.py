"""Training for archdsl networks (``archdsl train / eval / predict``).

The core is independent of the language: :func:`run` trains any ``nn.Module`` made by a factory,
given its input/output shapes. Importing this package is cheap: pydantic and torch are only imported when a
name is first used.
"""

from __future__ import annotations

__all__ = [
    "RunConfig",
    "load_config",
    "TrainError",
    "ConfigError",
    "run",
    "RunResult",
    "StepInfo",
    "Interrupted",
    "evaluate_checkpoint",
    "evaluate_model",
    "load_run",
    "CheckpointError",
    "DataError",
    "TaskError",
    "TransferError",
    "read_checkpoint",
    "load_data",
    "predict",
]

_LAZY = {
    "RunConfig": "config",
    "load_config": "config",
    "TrainError": "config",
    "ConfigError": "config",
    "run": "engine",
    "RunResult": "engine",
    "StepInfo": "engine",
    "Interrupted": "engine",
    "evaluate_checkpoint": "engine",
    "evaluate_model": "engine",
    "load_run": "engine",
    "CheckpointError": "checkpoint",
    "read_checkpoint": "checkpoint",
    "DataError": "data.bundle",
    "load_data": "data.load",
    "TaskError": "tasks",
    "TransferError": "transfer",
    "predict": "inference",
}


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'archdsl.train' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value
