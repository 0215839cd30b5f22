"""Where the tests find the repository and their fixtures: one home, so moving a test file cannot
quietly point it (or a subprocess's PYTHONPATH) somewhere else."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "tests" / "fixtures" / "faces"
