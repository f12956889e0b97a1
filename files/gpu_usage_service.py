"""The admins' GPU page: a JupyterHub service (/services/gpu-usage/) behind the Hub's login.
Only users with access to the service open it, and by JupyterHub's default roles that is the
admins (the `admin` role has `access:services`; the `user` role has `self` only).

At metrics, the same for Prometheus (gpu_usage.prometheus_text). Per GPU: its node, name and
UUID, who holds it (the labels the spawner puts on each server's container, or on a Swarm the
GPUs assigned each server's task), utilisation and memory now, since when it has been idle and the last hour, from the
usage files each GPU node's sampler keeps (files/gpu_usage_sampler.py). Runs in the Hub's
container; the deploy copies it there with gpu_usage.py, gpu_allocation.py and spawner_policies.py.
"""

import html
import os
import time
from datetime import datetime, timezone
from urllib.parse import urlparse

import docker
import gpu_allocation as allocation
import gpu_usage
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from spawner_policies import usage_in
from tornado import ioloop, web

USAGE_DIR = os.environ["JUPYTERGPU_USAGE_DIR"]
SWARM = os.environ.get("JUPYTERGPU_SWARM") == "1"
PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/gpu-usage/")


def holders() -> dict[str, list[str]]:
    """GPU UUID -> the servers holding it: on one server from its containers' labels, on a Swarm
    from the GPUs Swarm assigned each server's running task."""
    client = docker.from_env()
    if SWARM:
        labels = [allocation.swarm_holder_labels(service.attrs["Spec"]["Labels"],
                                                 service.tasks(filters={"desired-state": "running"}))
                  for service in client.services.list(filters={"label": allocation.HOLDER_LABEL})]
    else:
        labels = [container.labels for container in client.containers.list(filters={"label": allocation.GPUS_LABEL})]
    held = allocation.holdings(labels)
    by_gpu: dict[str, list[str]] = {}
    for holder, uuids in held.items():
        for uuid in uuids:
            by_gpu.setdefault(uuid, []).append(holder)
    return by_gpu


def since(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 1440} d {minutes // 60 % 24} h" if minutes >= 1440 else f"{minutes // 60} h {minutes % 60} min"


def rows(usage: dict, held: dict[str, list[str]], now: float) -> list[list[str]]:
    table = []
    for uuid, gpu in usage.items():
        memory = (f"{gpu['memory_used']} / {gpu['memory_total']} MiB"
                  if gpu.get("memory_used") is not None else "?")
        utilization = "?" if gpu.get("utilization") is None else f"{gpu['utilization']} %"
        idle = "in use" if gpu.get("idle_since") is None else f"idle for {since(now - gpu['idle_since'])}"
        table.append([html.escape(gpu.get("node", "")), html.escape(gpu.get("name", "")), html.escape(uuid),
                      html.escape(", ".join(gpu_usage.gpu_holders(gpu, uuid, held)) or "free"), utilization, memory, idle,
                      gpu_usage.sparkline(gpu.get("history", []))])
    return table


class GpuPage(HubOAuthenticated, web.RequestHandler):
    @web.authenticated
    def get(self):
        now = time.time()
        body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                       for row in rows(usage_in(USAGE_DIR, now), holders(), now))
        stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.set_header("Cache-Control", "no-store")
        self.finish(f"""<!doctype html><html><head><meta charset="utf-8"><title>GPUs</title>
<meta http-equiv="refresh" content="30"><style>body{{font-family:sans-serif;margin:2em}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ccc;padding:.3em .8em;text-align:left}}</style>
</head><body><h1>GPUs</h1><p>Who holds which GPU, how busy it is, since when it has been idle ({stamp}).</p>
<table id="gpus"><thead><tr><th>Node</th><th>GPU</th><th>UUID</th><th>Held by</th><th>Utilisation</th>
<th>Memory</th><th>Idle</th><th>Last hour</th></tr></thead><tbody>{body or '<tr><td colspan="8">No GPU usage yet: the sampler writes every few seconds.</td></tr>'}</tbody></table>
</body></html>""")


class Metrics(HubOAuthenticated, web.RequestHandler):
    """The same figures for Prometheus, for a token with access to this service (the
    `prometheus` service's, prometheus_token_file); refused, not redirected to a login, without."""

    def get(self):
        if not self.get_current_user():
            raise web.HTTPError(403)
        now = time.time()
        self.set_header("Content-Type", "text/plain; version=0.0.4")
        self.finish(gpu_usage.prometheus_text(usage_in(USAGE_DIR, now), holders(), now))


def main() -> None:
    app = web.Application([
        (PREFIX, GpuPage),
        (url_path_join(PREFIX, "metrics"), Metrics),
        (url_path_join(PREFIX, "oauth_callback"), HubOAuthCallbackHandler),
    ], cookie_secret=os.urandom(32))
    app.listen(urlparse(os.environ["JUPYTERHUB_SERVICE_URL"]).port, address="127.0.0.1")
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
