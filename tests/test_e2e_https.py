"""HTTPS in front of the Hub, end to end: the ACME path against Pebble, own certificate files,
and the proxy's own CA, each used through a browser that trusts only what a person would install.

Last, logins through the lab's single sign-on (hub_auth = "oidc") over that HTTPS: a real OpenID
provider (tests/testbed/oidc.py) beside the host, the browser through its login page and back,
groups from its claims deciding who logs in, who is admin and which images the spawn form offers;
then back to native logins, which still work.

The host (Debian 12) runs Pebble from Debian's package (tests/testbed/acme.py) and the proxy from
a stand-in of the official Caddy image built from Debian's caddy package (the official image
cannot be pulled here; Debian's Caddy is 2.6.2, the pinned image 2.11.4, and the Caddyfile uses
nothing newer than 2.6). The browser reaches hub.test on this machine through the host's
published HTTPS port. What Pebble cannot show: Let's Encrypt's rate limits and its reachability
from the Internet, and real DNS.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import time
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import DeployedHub
from hub_browser import api, launch_chromium, log_in, start_server, trust_roots
from testbed import acme, oidc, testbed

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


# --- Single sign-on (hub_auth = "oidc") -------------------------------------------------------------

PEOPLE = {"alice": ["vision", "gpu-admins"], USER: ["nlp"], "dave": ["alumni"]}


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    claims = {name: {"preferred_username": name, "email": f"{name}@lab.test", "groups": groups}
              for name, groups in PEOPLE.items()}
    started = oidc.start(tmp_path_factory.mktemp("oidc"), claims)
    yield started
    started.remove()


def oidc_settings(provider, tmp_path_factory) -> dict:
    secret = tmp_path_factory.mktemp("oidc-secret") / "client-secret"
    secret.write_text(secrets.token_urlsafe(24) + "\n")
    return {"hub_auth": "oidc", "oidc_issuer": provider.issuer, "oidc_client_id": "jupyterhub",
            "oidc_client_secret_file": str(secret), "oidc_ca_certificate": str(provider.ca),
            "oidc_allowed_groups": ["vision", "nlp"], "oidc_admin_groups": ["gpu-admins"],
            "group_profiles": {"vision": {"images": [IMAGE]}, "nlp": {}}}


def sign_on(browser, hub, person: str):
    """A fresh session through the provider's login page, as `person`; the page where it ends."""
    page = browser.new_context().new_page()
    page.set_default_timeout(120_000)
    page.goto(f"https://{acme.DOMAIN}/hub/oauth_login?next=/hub/home")
    assert page.url.startswith(provider_address(hub)), page.url
    asked = parse_qs(urlparse(page.url).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["code_challenge"], asked  # PKCE
    assert asked["redirect_uri"] == [f"https://{acme.DOMAIN}/hub/oauth_callback"]
    page.fill("input[name=sub]", person)
    page.click("button[type=submit]:has-text('Authorize')")
    page.wait_for_load_state()
    return page


def provider_address(hub) -> str:
    return hub.settings["oidc_issuer"]


def test_a_provider_the_server_cannot_trust_is_refused_before_any_change(hub, provider, tmp_path_factory):
    other = acme.test_ca(tmp_path_factory.mktemp("other-ca"), ["elsewhere.test"], name="other")
    run = DeployedHub(hub.host, hub.tmp, {**hub.settings, **oidc_settings(provider, tmp_path_factory),
                                          "oidc_ca_certificate": str(other["ca"])}).deploy()
    assert run.returncode != 0 and run.changed_operations() == [], run.output[-3000:]
    assert f"logins for host '{hub.host.name}' cannot work" in run.output
    assert "setting 'oidc_issuer'" in run.output and "its certificate does not verify" in run.output


def test_people_sign_on_through_the_provider_with_their_groups(hub, provider, playwright, tmp_path_factory):
    hub.settings.update(oidc_settings(provider, tmp_path_factory))
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    published = hub.host.published[443]
    home = trust_roots(tmp_path_factory.mktemp("sso-browser"), {
        "proxy-ca": hub.host.ssh("cat /home/jupyterhub/JupyterHubGPU/proxy/data/caddy/pki/authorities/local/root.crt").stdout,
        "provider-ca": provider.ca.read_text()})
    # hub.test on port 443, as the provider sends people back, is the host's published HTTPS port here.
    browser = launch_chromium(playwright, (f"--host-resolver-rules=MAP {acme.DOMAIN}:443 127.0.0.1:{published}",), home)
    try:
        alice = sign_on(browser, hub, "alice")
        assert alice.url.startswith(f"https://{acme.DOMAIN}/hub/"), alice.url
        assert alice.goto(f"https://{acme.DOMAIN}/hub/admin").status == 200  # gpu-admins: admin
        model = api(alice, "GET", "/hub/api/users/alice")
        assert model["status"] == 200 and json_of(model)["admin"] is True
        assert sorted(json_of(model)["groups"]) == ["gpu-admins", "vision"]
        ann = sign_on(browser, hub, USER)  # the native account of earlier, now through the provider
        assert ann.goto(f"https://{acme.DOMAIN}/hub/admin").status == 403
        assert json_of(api(alice, "GET", f"/hub/api/users/{USER}"))["groups"] == ["nlp"]
        ann.goto(f"https://{acme.DOMAIN}/hub/spawn")  # nlp's profile: every image
        assert ann.locator("select[name=image] option").all_inner_texts() == [IMAGE, "TensorFlow (GPU)"]
        # vision's profile offers one image: no choice to make, so the Hub starts alice's server with it
        alice.goto(f"https://{acme.DOMAIN}/hub/spawn")
        alice.wait_for_url("**/user/alice/lab**", timeout=180_000)
        image = hub.host.ssh("docker inspect --format '{{.Config.Image}}' jupyter-alice").stdout
        assert "scipy-notebook" in image, image

        dave = sign_on(browser, hub, "dave")  # known to the provider, in no allowed group
        assert "/hub/home" not in dave.url, dave.url
        dave.goto(f"https://{acme.DOMAIN}/hub/home")
        assert "/hub/login" in dave.url, dave.url  # not logged in
    finally:
        browser.close()
    secret = open(hub.settings["oidc_client_secret_file"]).read().strip()
    assert secret not in hub.host.ssh("journalctl --no-pager -o cat").stdout
    assert secret not in hub.host.ssh("cat /home/jupyterhub/JupyterHubGPU/jupyterhub_config.py").stdout


def test_a_rerun_with_single_sign_on_changes_nothing(hub):
    run = hub.deploy()
    assert run.returncode == 0 and run.changed_operations() == [], run.output[-4000:]


def test_back_to_native_logins_the_accounts_passwords_work_again(hub, playwright, tmp_path_factory):
    hub.settings.update({"hub_auth": "native", "group_profiles": {}})
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    browser = browser_trusting(playwright, tmp_path_factory, {"proxy-ca": hub.host.ssh(
        "cat /home/jupyterhub/JupyterHubGPU/proxy/data/caddy/pki/authorities/local/root.crt").stdout})
    try:
        page = log_in(browser, hub, USER, hub.password)
        with pytest.raises(AssertionError, match="alice could not log in"):
            log_in(browser, hub, "alice", "no-password-she-never-had-one")
        # The GPU image's dashboard (patch 0004) on this CPU-only server: JupyterLab runs, and the
        # dashboard says there is no GPU rather than failing.
        start_server(page, hub, USER, "TensorFlow (GPU)")
        answer = api(page, "GET", f"/user/{USER}/nvdashboard/accelerators/check")
        assert answer["status"] == 200 and json_of(answer)["has_gpu"] is False, answer
    finally:
        browser.close()


def json_of(answer: dict) -> dict:
    return json.loads(answer["text"])
