"""The real app launched in a subprocess, driven through its HTTP/gradio API."""
