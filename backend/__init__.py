"""XTuner LLaVA Studio backend: everything that works without a browser.

Nothing in this package imports gradio.
"""
