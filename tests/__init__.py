"""The studio's tests as a regular package: bitsandbytes 0.45.0 (kept beside torch 2.0.1,
scripts/test_oldest_stack.sh) installs a top-level `tests` package into site-packages,
which would otherwise win over this folder in `from tests.app_server import ...`."""
