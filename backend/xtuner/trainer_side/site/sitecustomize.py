"""Loaded by Python at start-up in every xtuner subprocess the app launches
(this folder is put first on their PYTHONPATH).

xtuner's configs are mmengine lazy-import configs, whose ``custom_imports``
are not imported before the model is built; this is the one place that runs
early enough for our fixes (backend/xtuner/trainer_side/patches.py) to apply.
"""
import backend.xtuner.trainer_side.patches  # noqa: F401
