"""What a user may choose for a run (TrainOptions), validated on construction."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from backend.errors import StudioError


class ConfigError(StudioError, ValueError):
    """An option outside what the recipe supports."""



@dataclass(frozen=True)
class TrainOptions:
    """What a user may choose; everything else comes from the profile."""

    epochs: int = 1
    lr: float = 2e-4
    llm_lora_r: int = 512
    llm_lora_alpha: int = 256
    visual_lora_r: int = 64
    visual_lora_alpha: int = 16
    batch_size: int = 1
    max_length: int = 1472  # the built-in: 2048 - (336/14)^2
    warmup_ratio: float = 0.03
    save_steps: int = 500
    save_total_limit: int = 2
    evaluation_freq: int = 500
    seed: int = 0

    _LIMITS = {
        "epochs": (1, 20), "lr": (1e-7, 1.0), "llm_lora_r": (1, 1024),
        "llm_lora_alpha": (1, 4096), "visual_lora_r": (1, 1024),
        "visual_lora_alpha": (1, 4096), "batch_size": (1, 64),
        "max_length": (64, 8192), "warmup_ratio": (0.0, 0.5),
        "save_steps": (1, 100_000), "save_total_limit": (1, 100),
        "evaluation_freq": (1, 100_000), "seed": (0, 2**31 - 1),
    }

    def __post_init__(self):
        for item in fields(self):
            value = getattr(self, item.name)
            low, high = self._LIMITS[item.name]
            kind = float if isinstance(item.default, float) else int
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    kind is int and not isinstance(value, int)):
                raise ConfigError(f"Option {item.name} must be a {kind.__name__}.")
            if not low <= value <= high:
                raise ConfigError(f"Option {item.name}={value} is outside [{low}, {high}].")

    def with_updates(self, updates: dict) -> "TrainOptions":
        """Apply user options (e.g. from JSON); unknown keys are refused."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(updates) - known)
        if unknown:
            raise ConfigError(f"Unknown option(s): {', '.join(unknown)}. "
                              f"Known: {', '.join(sorted(known))}.")
        values = asdict(self)
        for key, value in updates.items():
            if isinstance(getattr(self, key), float) and isinstance(value, int) \
                    and not isinstance(value, bool):
                value = float(value)
            values[key] = value
        return TrainOptions(**values)
