"""A stand-in web worker for tests/face/test_pool.py: starts an analysis pool, analyses one
snapshot, prints the pool's process ids and waits to be killed."""

import sys
import time
from pathlib import Path

from xuetang.face import pool

if __name__ == "__main__":  # the forkserver must not run this again
    workers = pool.AnalysisPool(processes=1, waiting=0, timeout_s=60)
    workers.analyse(Path(sys.argv[1]).read_bytes())
    print(" ".join(str(pid) for pid in workers.pids()), flush=True)
    time.sleep(600)
