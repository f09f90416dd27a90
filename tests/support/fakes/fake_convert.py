"""A stand-in for pth_to_hf: CONFIG CHECKPOINT OUT_DIR [--fp32].
Env: FAKE_CONVERT_SLEEP seconds before it writes (0)."""
import os
import sys
import time
from pathlib import Path

time.sleep(float(os.environ.get("FAKE_CONVERT_SLEEP", 0)))

config, checkpoint, out = sys.argv[1:4]
if not Path(checkpoint).is_file():
    sys.exit(f"FileNotFoundError: {checkpoint}")
Path(out).mkdir(parents=True, exist_ok=True)
(Path(out) / "converted_from.txt").write_text(checkpoint)
print(f"converted {checkpoint}")
