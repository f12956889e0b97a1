"""The deploy's speed, each figure beside its floor, measured on test-bed hosts. Run: ./dev bench

Prints a table and writes bench/results.json. Not a test: the targets are reported, never
asserted. Figures (wall seconds; remote commands counted from pyinfra's --debug log):
- no-op rerun on a converged host, against pyinfra connecting and reading one fact (target 2x),
  measured once a rerun has recorded what a converged host is asked (jhgpu/fact_cache.py);
- the same rerun on 4 hosts at once, against 1 host (target 1.5x);
- a rerun after a change to the last image's build context, against a bare `docker build` of
  that image after the same kind of change (target 1.2x);
- a spawn through the Hub until the Hub reports the server ready, against a bare `docker run` of
  the same image until its server answers (target: the bare time plus 3 s);
- the first converge of a fresh host, with its five longest operations.
"""

from __future__ import annotations

import collections
import concurrent.futures
import http.cookiejar
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
from testbed import testbed  # noqa: E402

PYINFRA = str(Path(sys.executable).parent / "pyinfra")
RESULTS = REPO / "bench" / "results.json"
DEFAULTS = __import__("runpy").run_path(str(REPO / "group_data" / "all.py"))
PASSWORD = "bench-password-1"
IMAGE = "Python (SciPy)"


class Run:
    def __init__(self, seconds: float, log: list[tuple[float, str]], returncode: int):
        self.seconds, self.log, self.returncode = seconds, log, returncode

    @property
    def commands(self) -> int:
        return sum("Running command on" in line for _, line in self.log)

    def facts(self) -> collections.Counter:
        return collections.Counter(m.group(1) for _, line in self.log
                                   if (m := re.search(r"Getting fact: (\S+)", line)))

    def longest_operations(self, count: int = 5) -> list[tuple[str, float]]:
        starts = [(moment, line.split("Starting operation: ", 1)[1].strip()) for moment, line in self.log
                  if "Starting operation: " in line]
        ends = [moment for moment, _ in starts[1:]] + [self.log[-1][0]]
        spans = collections.defaultdict(float)
        for (start, name), end in zip(starts, ends):
            spans[name.split(" | ", 1)[-1]] += end - start
        return sorted(spans.items(), key=lambda item: -item[1])[:count]


def pyinfra(inventory: Path, *args: str) -> Run:
    """pyinfra with --debug, each output line timestamped as it arrives."""
    started = time.monotonic()
    process = subprocess.Popen([PYINFRA, "-y", "--debug", str(inventory), *args], cwd=REPO, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = [(time.monotonic() - started, line.rstrip()) for line in process.stdout]
    process.wait()
    run = Run(time.monotonic() - started, log or [(0.0, "")], process.returncode)
    if run.returncode != 0:
        sys.exit("pyinfra failed:\n" + "\n".join(line for _, line in run.log[-40:]))
    return run


def inventory(path: Path, hosts: list[testbed.Host], settings: dict) -> Path:
    path.write_text("hosts = " + repr([(h.name, {**h.inventory_data(), **settings}) for h in hosts]) + "\n")
    return path


def hub_session(host: testbed.Host, user: str, password: str) -> tuple[urllib.request.OpenerDirector, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = host.url(testbed.HUB_PORT)
    opener.open(f"{base}hub/login").read()
    xsrf = next(cookie.value for cookie in jar if cookie.name == "_xsrf")
    body = urllib.parse.urlencode({"username": user, "password": password, "_xsrf": xsrf}).encode()
    opener.open(f"{base}hub/login?next=", data=body).read()
    xsrf = next(cookie.value for cookie in jar if cookie.name == "_xsrf")
    return opener, xsrf


def spawn_seconds(host: testbed.Host, user: str) -> float:
    """From asking the Hub to start `user`'s server until the Hub reports it ready."""
    opener, xsrf = hub_session(host, user, PASSWORD)
    base = host.url(testbed.HUB_PORT)
    headers = {"X-XSRFToken": xsrf, "Content-Type": "application/json"}
    started = time.monotonic()
    opener.open(urllib.request.Request(f"{base}hub/api/users/{user}/server", data=json.dumps(
        {"image": IMAGE, "gpus": 0}).encode(), headers=headers, method="POST")).read()
    while True:
        state = json.loads(opener.open(urllib.request.Request(f"{base}hub/api/users/{user}",
                                                              headers=headers)).read())
        if state["servers"].get("", {}).get("ready"):
            return time.monotonic() - started
        time.sleep(0.1)


def bare_run_seconds(host: testbed.Host, image: str) -> float:
    """`docker run` of the image's Jupyter server until it answers, on the host."""
    script = (f"start=$(date +%s.%N); docker run -d --rm --name bench-bare -p 127.0.0.1:18888:8888 {image} "
              "jupyter server --ServerApp.token= --ServerApp.ip=0.0.0.0 >/dev/null; "
              "until curl -sf -o /dev/null http://127.0.0.1:18888/api; do sleep 0.1; done; "
              "end=$(date +%s.%N); docker rm -f bench-bare >/dev/null; python3 -c \"print($end - $start)\"")
    return float(host.ssh(script).stdout)


def change_last_image(workdir: Path, settings: dict) -> dict:
    """A new commit in the fixture docker-stacks that changes the last image's context."""
    repo = Path(settings["docker_stacks_repo"])
    last = settings["notebook_images"][-1]["context"]
    dockerfile = repo / last / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + f"\nRUN echo bench-{time.time_ns()} > /tmp/bench-marker\n")
    testbed.git(repo, "commit", "-qam", "bench: change the last image")
    return {**settings, "docker_stacks_ref": testbed.git(repo, "rev-parse", "HEAD")}


def bare_build_seconds(host: testbed.Host, settings: dict) -> float:
    """`docker build` of the last image's context as the deploy checked it out, with the same
    build arguments, after the same kind of change (a copy, so the deploy's checkout is left alone)."""
    from types import SimpleNamespace

    from jhgpu.images import build_plan

    data = SimpleNamespace(**{**DEFAULTS, **settings})
    build = build_plan(data)[-1]
    args = " ".join(f"--build-arg '{key}={value}'" for key, value in sorted(build.build_args.items()))
    script = (f"rm -rf /tmp/bench-context && cp -r {build.context} /tmp/bench-context && cd /tmp/bench-context && "
              "echo \"RUN echo bare-$(date +%s%N) > /tmp/bench-marker\" >> Dockerfile && "
              f"start=$(date +%s.%N); DOCKER_BUILDKIT=1 docker build -q {args} -t bench-bare-build . >/dev/null; "
              "end=$(date +%s.%N); python3 -c \"print($end - $start)\"")
    return float(host.ssh(script).stdout)


def note(results: dict, key: str, value: dict) -> None:
    """Keep a figure, and say it at once (a later stage may fail)."""
    results[key] = value
    print(f"{key}: {json.dumps(value)}", flush=True)


def main() -> int:
    if not testbed.docker_engine_running():
        sys.exit("no Docker engine: ./dev engine")
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    settings = {**testbed.testbed_settings(work), "gpu_enabled": False, "hub_users": ["alice"],
                "hub_passwords": {"alice": PASSWORD}}
    hosts = [testbed.start_host(publish=(testbed.HUB_PORT,)) for _ in range(4)]
    results = {"machine": f"{platform.node()}: {platform.processor() or platform.machine()}, "
                          f"{__import__('os').cpu_count()} CPUs, {platform.platform()}"}
    try:
        one = inventory(work / "one.py", hosts[:1], settings)
        first = pyinfra(one, "deploy.py")
        note(results, "first_converge", {"seconds": round(first.seconds, 1), "commands": first.commands,
                                     "longest": [[name, round(s, 1)] for name, s in first.longest_operations()]})
        floor = pyinfra(one, "fact", "server.Hostname")
        # The first rerun reads ahead what the first converge asked (a host with nothing on it yet);
        # from the next one on, what a converged host is asked: the figure of every later rerun.
        first_rerun = pyinfra(one, "deploy.py")
        noop = pyinfra(one, "deploy.py")
        note(results, "noop_rerun", {"seconds": round(noop.seconds, 2), "commands": noop.commands,
                                 "first_rerun_seconds": round(first_rerun.seconds, 2),
                                 "first_rerun_commands": first_rerun.commands,
                                 "floor_seconds": round(floor.seconds, 2), "floor_commands": floor.commands,
                                 "ratio": round(noop.seconds / floor.seconds, 2), "target": 2.0,
                                 "facts": dict(noop.facts().most_common(8))})
        four = inventory(work / "four.py", hosts, settings)
        with concurrent.futures.ThreadPoolExecutor(3) as pool:  # the other three converge
            list(pool.map(lambda h: pyinfra(inventory(work / f"{h.name}.py", [h], settings), "deploy.py"), hosts[1:]))
        pyinfra(four, "deploy.py")  # as above: the rerun after each host's first converge
        noop_four = pyinfra(four, "deploy.py")
        note(results, "noop_rerun_4_hosts", {"seconds": round(noop_four.seconds, 2), "one_host_seconds": round(noop.seconds, 2),
                                         "ratio": round(noop_four.seconds / noop.seconds, 2), "target": 1.5})
        changed = change_last_image(work, settings)
        rebuild = pyinfra(inventory(work / "one.py", hosts[:1], changed), "deploy.py")
        bare = bare_build_seconds(hosts[0], changed)
        note(results, "last_image_changed", {"seconds": round(rebuild.seconds, 1), "bare_build_seconds": round(bare, 1),
                                         "ratio": round(rebuild.seconds / bare, 2), "target": 1.2,
                                         "longest": [[n, round(s, 1)] for n, s in rebuild.longest_operations(3)]})
        spawn = spawn_seconds(hosts[0], "alice")
        image = f"{DEFAULTS['image_owner']}/{changed['notebook_images'][-1]['name']}:latest"
        bare_run = bare_run_seconds(hosts[0], image)
        note(results, "spawn", {"seconds": round(spawn, 2), "bare_run_seconds": round(bare_run, 2),
                            "over_bare": round(spawn - bare_run, 2), "target_over_bare": 3.0})
    finally:
        for host in hosts:
            host.remove()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


def table(results: dict) -> str:
    noop, four = results["noop_rerun"], results["noop_rerun_4_hosts"]
    image, spawn = results["last_image_changed"], results["spawn"]
    rows = [
        ("no-op rerun", f"{noop['seconds']} s, {noop['commands']} commands",
         f"{noop['floor_seconds']} s, {noop['floor_commands']} commands", f"{noop['ratio']}x", "<= 2x"),
        ("no-op rerun, 4 hosts", f"{four['seconds']} s", f"{four['one_host_seconds']} s (1 host)",
         f"{four['ratio']}x", "<= 1.5x"),
        ("last image changed", f"{image['seconds']} s", f"{image['bare_build_seconds']} s (docker build)",
         f"{image['ratio']}x", "<= 1.2x"),
        ("spawn", f"{spawn['seconds']} s", f"{spawn['bare_run_seconds']} s (docker run)",
         f"+{spawn['over_bare']} s", "<= +3 s"),
    ]
    lines = [f"{'figure':22} {'deploy':28} {'floor':32} {'ratio':8} target"]
    lines += [f"{a:22} {b:28} {c:32} {d:8} {e}" for a, b, c, d, e in rows]
    first = results["first_converge"]
    lines.append(f"first converge: {first['seconds']} s; longest: "
                 + "; ".join(f"{name} {seconds} s" for name, seconds in first["longest"]))
    lines.append(f"first rerun after the first converge: {noop['first_rerun_seconds']} s, "
                 f"{noop['first_rerun_commands']} commands")
    lines.append(f"no-op rerun's facts read one by one: {noop['facts'] or 'none'}")
    lines.append(f"machine: {results['machine']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
