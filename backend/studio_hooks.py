"""Where configs rendered before backend/ was split into folders import our hooks.

A run's config file is written once, at Start, and Resume and the conversion steps
reuse it; runs made by an older version say ``from backend.studio_hooks import ...``.
New configs import backend.xtuner.trainer_side.hooks directly.
"""
from backend.xtuner.trainer_side.hooks import *  # noqa: F401,F403
