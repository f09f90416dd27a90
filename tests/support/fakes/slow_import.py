"""Imported by a warm trainer in tests: an import that takes SLOW_IMPORT_S seconds (30)."""
import os
import time

time.sleep(float(os.environ.get("SLOW_IMPORT_S", 30)))
