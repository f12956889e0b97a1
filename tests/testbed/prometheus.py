"""Prometheus for the test bed, from Debian's prometheus package: it scrapes the Hub's own
metrics and the GPU page's with the token the deploy was given (prometheus_token_file).

Built once on this machine from the debootstrap base (no registry is reachable), preloaded onto
the Hub's test-bed host like any image archive, and run there on the Hub's network, where a
site's Prometheus would reach the Hub through its proxy; curl is in the image to ask its API.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

from testbed import testbed

DOCKERFILE = """ARG BASE_IMAGE
FROM $BASE_IMAGE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus curl ca-certificates \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
CMD ["prometheus", "--config.file=/etc/jupytergpu-prometheus/prometheus.yml", "--storage.tsdb.path=/tmp/prometheus", \\
     "--web.listen-address=127.0.0.1:9090"]
"""

# Both jobs through the Hub's public port on its network (the proxy routes /services/...).
CONFIG = """global:
  scrape_interval: 5s
scrape_configs:
  - job_name: hub
    metrics_path: /hub/metrics
    authorization: {type: Bearer, credentials_file: /etc/jupytergpu-prometheus/token}
    static_configs: [{targets: ["hub:8000"]}]
  - job_name: gpus
    metrics_path: /services/gpu-usage/metrics
    authorization: {type: Bearer, credentials_file: /etc/jupytergpu-prometheus/token}
    static_configs: [{targets: ["hub:8000"]}]
"""


def image() -> str:
    return testbed._standin_image("prometheus", DOCKERFILE)


def serve(host, workdir: Path, network: str, token: Path) -> None:
    """Run Prometheus in `host`'s Docker on `network`, scraping with `token`."""
    (workdir / "prometheus.yml").write_text(CONFIG)
    host.ssh("mkdir -p /root/prometheus")
    for local, remote in ((workdir / "prometheus.yml", "prometheus.yml"), (token, "token")):
        testbed.docker("cp", str(local), f"{host.name}:/root/prometheus/{remote}")
    host.ssh("chmod 644 /root/prometheus/token")  # the image's prometheus user reads it
    host.ssh(f"docker run -d --name prometheus --network {network} -v /root/prometheus:/etc/jupytergpu-prometheus:ro"
             f" {image()} >/dev/null")


def query(host, expression: str, seconds: int = 90) -> list[dict]:
    """The result of an instant query, once it has one (Prometheus scrapes every 5 s)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = host.ssh(f"docker exec prometheus curl -s 'http://127.0.0.1:9090/api/v1/query?query={quote(expression)}'",
                          check=False).stdout
        result = json.loads(answer)["data"]["result"] if answer.startswith("{") else []
        if result or time.monotonic() > deadline:
            return result
        time.sleep(3)
