"""Profiles, model paths, the resident chat models."""
