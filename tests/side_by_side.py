"""Run the test suite with test modules side by side: what `./dev test` runs.

The end-to-end modules spend most of their time waiting on their test-bed hosts (apt, image
builds, a Hub starting), so two at once take about half the wall time on 2 cores. Each
end-to-end module runs in a pytest process of its own, the longest first, on JOBS lanes (the
environment's TEST_JOBS, default 2); the fast tests run together in one more process. A module's
output is printed when it finishes, then a table of every module's time and result.

Arguments go to every pytest process (`-v`, `-m "not e2e"`, `-k ...`). Given test paths, it runs
one plain pytest on them instead. (pytest-xdist was tried: its workers deadlock under the gevent
that pyinfra loads.)
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Minutes each end-to-end module took in a full run on 2 cores, to start the longest first (a
# module missing here counts as 3 minutes; the order only affects the total time).
MINUTES = {"test_e2e_gpus.py": 8, "test_e2e_hub.py": 8, "test_e2e_backup.py": 7, "test_e2e_swarm.py": 6,
           "test_e2e_https.py": 6, "test_e2e_images.py": 5, "test_e2e_foundation.py": 4, "test_e2e_ldap.py": 3}


def pytest(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def main(args: list[str]) -> int:
    if any(not arg.startswith("-") and (Path(arg.split("::")[0]).exists() or "::" in arg) for arg in args):
        return subprocess.call(pytest(args))  # the caller chose the tests
    modules = sorted(TESTS.glob("test_e2e_*.py"), key=lambda path: -MINUTES.get(path.name, 3))
    fast = sorted(set(TESTS.glob("test_*.py")) - set(modules))
    jobs: queue.Queue = queue.Queue()
    for job in [*(([module.name], [str(module)]) for module in modules), (["fast tests"], [str(p) for p in fast])]:
        jobs.put(job)
    results, lock = [], threading.Lock()

    def lane() -> None:
        while True:
            try:
                (name,), paths = jobs.get_nowait()
            except queue.Empty:
                return
            began = time.monotonic()
            with tempfile.TemporaryFile("w+") as output:
                code = subprocess.call(pytest([*args, *paths]), stdout=output, stderr=subprocess.STDOUT, cwd=TESTS.parent)
                took = time.monotonic() - began
                output.seek(0)
                with lock:
                    print(f"\n===== {name}: exit {code} after {took / 60:.1f} min =====", flush=True)
                    sys.stdout.write(output.read())
                    sys.stdout.flush()
                    results.append((name, code, took))

    lanes = [threading.Thread(target=lane) for _ in range(max(1, int(os.environ.get("TEST_JOBS", "2"))))]
    for thread in lanes:
        thread.start()
        time.sleep(5)  # the first lane makes the shared test-bed images (locked), the others wait
    for thread in lanes:
        thread.join()
    print("\n===== every module =====")
    failed = False
    for name, code, seconds in sorted(results, key=lambda result: -result[2]):
        ok = code in (0, 5)  # 5: nothing collected (e.g. -m "not e2e" on an end-to-end module)
        failed |= not ok
        print(f"{'ok    ' if ok else 'FAILED'} {seconds / 60:5.1f} min  {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
