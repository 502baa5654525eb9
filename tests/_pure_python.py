"""Run a check script with numba's JIT off, in a fresh interpreter, and read its JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def pure_python_report(script: str) -> Any:
    """The JSON object ``script`` prints last, run with ``NUMBA_DISABLE_JIT=1`` and warnings as
    errors; fails the test with the script's stderr when it exits non-zero."""
    environment = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), environment.get("PYTHONPATH", "")])
    )
    completed = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])
