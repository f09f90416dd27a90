"""json.loads for text a user typed or uploaded: too deep a nesting is a parse error.

Python's decoder answers a few thousand nested brackets with RecursionError,
which no handler expects (the page showed gradio's generic error). Here it is
a json.JSONDecodeError like any other malformed input, so each caller's own
"does not parse" message explains it.
"""
from __future__ import annotations

import json

NESTING_MESSAGE = "nested too deeply (brackets inside brackets thousands of levels down)"


def loads(text):
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError(NESTING_MESSAGE, text if isinstance(text, str) else "",
                                   0) from None
