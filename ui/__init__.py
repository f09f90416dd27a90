"""Gradio UI: one module per tab (build_x() + wire_x()), strings in messages."""
