"""Accounts, who may see/touch which run, login throttling."""
