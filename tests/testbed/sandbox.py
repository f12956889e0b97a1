"""A local sandbox host to try the deploy on, without a GPU server. Run through ./dev:

    ./dev sandbox   start (or reuse) the sandbox host and deploy to it
    ./dev clean     remove the sandbox and anything else the test bed left behind

The sandbox is a test-bed host (Debian 12, systemd, sshd, its own Docker) published on
127.0.0.1. Its inventory is written to .sandbox/inventory.py; edit it and rerun to try settings.
"""

from __future__ import annotations

import pprint
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import testbed  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NAME = "jupyterhub-gpu-sandbox"
INVENTORY = REPO / ".sandbox" / "inventory.py"
HTTPS_PORT = 443  # https_port's default
ROOT_CERTIFICATE = "/home/jupyterhub/JupyterHubGPU/proxy/data/caddy/pki/authorities/local/root.crt"


def running_host() -> testbed.Host | None:
    """The sandbox host if it runs, with its published ports (lines like '22/tcp -> 127.0.0.1:PORT')."""
    ports = {}
    for line in testbed.docker("port", NAME, check=False).stdout.splitlines():
        inside, _, outside = line.partition(" -> ")
        ports[int(inside.split("/")[0])] = int(outside.rsplit(":", 1)[1])
    if 22 not in ports:
        return None
    published = {port: local for port, local in ports.items() if port != 22}
    return testbed.Host(name=NAME, port=ports[22], key=testbed.ssh_key(), published=published)


def write_inventory(host: testbed.Host) -> None:
    INVENTORY.parent.mkdir(exist_ok=True)
    # No GPU in the sandbox, and no registry: it builds the test bed's fixture image chain, and
    # serves HTTPS from the proxy's own CA (the stand-in Caddy image, built from Debian's).
    data = {**host.inventory_data(), "gpu_enabled": False, **testbed.https_settings(INVENTORY.parent),
            "hub_tls": "internal"}
    INVENTORY.write_text(
        "# The local sandbox host made by ./dev sandbox. Add settings from group_data/all.py here.\n"
        f"hosts = [({host.name!r}, {pprint.pformat(data, sort_dicts=False)})]\n"
    )


def up() -> int:
    host = running_host()
    if host:
        print(f"==> Reusing the running sandbox host {NAME}")
    else:
        print(f"==> Starting the sandbox host {NAME} (the first time builds its image: a few minutes)")
        host = testbed.start_host(NAME, publish=(HTTPS_PORT,))
    if not INVENTORY.exists() or host.name not in INVENTORY.read_text() or f"{host.port}" not in INVENTORY.read_text():
        write_inventory(host)
    print(f"==> Deploying: pyinfra {INVENTORY.relative_to(REPO)} deploy.py")
    deploy = subprocess.run([str(REPO / ".venv" / "bin" / "pyinfra"), "-y", str(INVENTORY), "deploy.py"], cwd=REPO)
    ssh = f"ssh -i {host.key} -p {host.port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@127.0.0.1"
    if HTTPS_PORT in host.published:
        hub = f"https://localhost:{host.published[HTTPS_PORT]}/"
    else:
        hub = "(HTTPS not published: an older sandbox; ./dev clean, then rerun)"
    print(f"""
==> The sandbox host is up.
    The Hub:    {hub}  (HTTPS from the proxy's own CA: your browser warns until you trust it)
    Its CA:     {ssh} cat {ROOT_CERTIFICATE} > sandbox-ca.crt
    Passwords:  {ssh} cat /root/jupyterhub-initial-passwords.txt
    Log in:     {ssh}
    Redeploy:   .venv/bin/pyinfra {INVENTORY.relative_to(REPO)} deploy.py      (add --dry to preview)
    Remove it:  ./dev clean
""")
    return deploy.returncode


def clean() -> int:
    testbed.remove_all_hosts()
    INVENTORY.unlink(missing_ok=True)
    print("==> Removed the sandbox and all test-bed hosts and volumes")
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "up"
    sys.exit({"up": up, "clean": clean}[command]())
