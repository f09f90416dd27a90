"""Helpers shared by the tests (import them from here, never from a test module)."""
