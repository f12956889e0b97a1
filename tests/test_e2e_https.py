"""HTTPS in front of the Hub, end to end: the ACME path against Pebble, own certificate files,
and the proxy's own CA, each used through a browser that trusts only what a person would install.

The host (Debian 12) runs Pebble from Debian's package (tests/testbed/acme.py) and the proxy from
a stand-in of the official Caddy image built from Debian's caddy package (the official image
cannot be pulled here; Debian's Caddy is 2.6.2, the pinned image 2.11.4, and the Caddyfile uses
nothing newer than 2.6). The browser reaches hub.test on this machine through the host's
published HTTPS port. What Pebble cannot show: Let's Encrypt's rate limits and its reachability
from the Internet, and real DNS.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import time

import pytest

from conftest import DeployedHub
from hub_browser import api, launch_chromium, log_in, start_server, trust_roots
from testbed import acme, testbed

pytestmark = pytest.mark.e2e

USER = "ann"
IMAGE = "Python (SciPy)"
PROXY = "jupyterhub-proxy"


class HttpsHub(DeployedHub):
    def __init__(self, host: testbed.Host, tmp):
        self.password = secrets.token_urlsafe(16)
        super().__init__(host, tmp, {**testbed.https_settings(tmp), **acme.start_pebble(host, tmp),
                                     "gpu_enabled": False, "hub_users": [USER], "hub_passwords": {USER: self.password}})

    def url(self, path: str) -> str:
        return f"https://{acme.DOMAIN}:{self.host.published[443]}{path}"

    def served_certificate(self, cafile: str | None = None, seconds: int = 90) -> bytes:
        """The certificate the proxy serves for hub.test (verified against `cafile` when given),
        once it serves one: an ACME order takes a few seconds after the proxy starts."""
        if cafile:
            context = ssl.create_default_context(cafile=cafile)
        else:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + seconds
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.host.published[443]), timeout=10) as raw, \
                        context.wrap_socket(raw, server_hostname=acme.DOMAIN) as tls:
                    return tls.getpeercert(binary_form=True)
            except (OSError, ssl.SSLError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)


@pytest.fixture(scope="module")
def hub(docker_engine, tmp_path_factory):
    host = testbed.start_host(publish=(80, 443))
    try:
        https_hub = HttpsHub(host, tmp_path_factory.mktemp("https"))
        run = https_hub.first_run = https_hub.deploy()
        assert run.returncode == 0, run.output[-6000:]
        yield https_hub
    finally:
        host.remove()


def browser_trusting(playwright, tmp_path_factory, roots: dict[str, str]):
    """A browser whose trust store holds these roots, and resolves hub.test to this machine."""
    home = trust_roots(tmp_path_factory.mktemp("browser-home"), roots)
    return launch_chromium(playwright, (f"--host-resolver-rules=MAP {acme.DOMAIN} 127.0.0.1",), home)


def logs_in_and_starts_a_server(browser, hub: HttpsHub) -> None:
    """Log in, start a server and reach JupyterLab over HTTPS; then stop the server again."""
    page = log_in(browser, hub, USER, hub.password)
    start_server(page, hub, USER, IMAGE)
    assert page.url.startswith(f"https://{acme.DOMAIN}:"), page.url
    cookies = [cookie for cookie in page.context.cookies() if cookie["name"].startswith("jupyterhub")]
    assert cookies and all(cookie["secure"] for cookie in cookies), cookies
    page.goto(hub.url("/hub/home"))
    assert api(page, "DELETE", f"/hub/api/users/{USER}/server")["status"] in (202, 204)
    deadline = time.monotonic() + 120
    while hub.host.ssh(f"docker ps -q --filter name=^jupyter-{USER}$").stdout.strip():
        assert time.monotonic() < deadline, "the server did not stop"
        time.sleep(1)


def test_the_proxy_gets_a_certificate_from_the_acme_server(hub, tmp_path):
    root = tmp_path / "pebble-root.pem"
    root.write_text(acme.issuing_root(hub.host))
    assert hub.served_certificate(cafile=str(root))  # issued by Pebble for hub.test, verified
    # Only the proxy's ports are published: the Hub's own port is not reachable from outside.
    assert hub.host.ssh("docker port jupyterhub-hub").stdout.strip() == ""
    assert "The Hub: https://hub.test/" in hub.first_run.output


def test_a_rerun_changes_nothing(hub):
    run = hub.deploy()
    assert run.returncode == 0 and run.changed_operations() == [], run.output[-4000:]


def test_a_user_logs_in_and_starts_a_server_over_https(hub, playwright, tmp_path_factory):
    browser = browser_trusting(playwright, tmp_path_factory, {"pebble": acme.issuing_root(hub.host)})
    try:
        logs_in_and_starts_a_server(browser, hub)
    finally:
        browser.close()


def test_plain_http_redirects_to_https(hub):
    answer = hub.host.ssh(f"curl -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}' http://{acme.DOMAIN}/hub/login")
    assert answer.stdout == f"308 https://{acme.DOMAIN}/hub/login"


def hsts(hub) -> str | None:
    """The Strict-Transport-Security header of the login page, as the proxy serves it."""
    headers = hub.host.ssh(f"curl -sk -D - -o /dev/null https://{acme.DOMAIN}/hub/login").stdout.lower()
    return next((line.split(":", 1)[1].strip() for line in headers.splitlines()
                 if line.startswith("strict-transport-security:")), None)


def test_browsers_are_told_to_come_back_over_https_alone(hub):
    # HSTS: a network on the way cannot turn the next visit into plain HTTP and read a password.
    assert hsts(hub) == "max-age=31536000"


def test_the_certificate_survives_a_rebuild_without_a_new_order(hub):
    before = hub.served_certificate()
    hub.host.ssh(f"docker rm -f {PROXY}")  # the proxy is made anew...
    hub.settings["idle_cull_timeout"] = 7200  # ...and so is the Hub
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert "Run the Hub behind its HTTPS proxy" in run.changed_operations()
    assert hub.served_certificate() == before  # from the proxy's data folder on the host, not a new order


def test_own_certificate_files(hub, playwright, tmp_path_factory):
    own = acme.test_ca(tmp_path_factory.mktemp("own-ca"), [acme.DOMAIN], name="own")
    hub.settings.update({"hub_tls": "files", "tls_certificate_file": str(own["certificate"]),
                         "tls_key_file": str(own["key"])})
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert hub.host.ssh("stat -c '%U %a' /home/jupyterhub/JupyterHubGPU/proxy/tls/key.pem").stdout.strip() == "root 600"
    assert hub.served_certificate(cafile=str(own["ca"]))
    browser = browser_trusting(playwright, tmp_path_factory, {"own": own["ca"].read_text()})
    try:
        logs_in_and_starts_a_server(browser, hub)
    finally:
        browser.close()


def test_the_proxys_own_ca(hub, playwright, tmp_path_factory):
    hub.settings.update({"hub_tls": "internal", "tls_certificate_file": None, "tls_key_file": None})
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    root_path = "/home/jupyterhub/JupyterHubGPU/proxy/data/caddy/pki/authorities/local/root.crt"
    assert f"trust its root certificate, {root_path} on the server" in run.output
    hub.served_certificate()  # the proxy has made its CA and the certificate
    assert hsts(hub) is None  # users must still be able to click through until they trust the root
    root = hub.host.ssh(f"cat {root_path}").stdout
    assert "BEGIN CERTIFICATE" in root
    browser = browser_trusting(playwright, tmp_path_factory, {"proxy-ca": root})
    try:
        logs_in_and_starts_a_server(browser, hub)
    finally:
        browser.close()
