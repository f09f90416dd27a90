"""A stand-in for pth_to_hf: CONFIG CHECKPOINT OUT_DIR [--fp32]."""
import sys
from pathlib import Path

config, checkpoint, out = sys.argv[1:4]
if not Path(checkpoint).is_file():
    sys.exit(f"FileNotFoundError: {checkpoint}")
Path(out).mkdir(parents=True, exist_ok=True)
(Path(out) / "converted_from.txt").write_text(checkpoint)
print(f"converted {checkpoint}")
