"""The one base class of every error whose message is written for the person using the app.

The UI's one guard (ui/guard.py) shows a StudioError's message as it is; anything
else is a bug and keeps gradio's generic error. Each subclass also keeps the
built-in base it had (ValueError, RuntimeError, PermissionError), so code that
catches those still does.
"""


class StudioError(Exception):
    """A refusal or failure the user can act on; its message says what to do."""
