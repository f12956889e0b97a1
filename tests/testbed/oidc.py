"""An OpenID Connect provider for the test bed: oidc-provider-mock 0.3.4 from PyPI, served over
HTTPS under a test CA's certificate, with people whose claims carry their groups.

Why this one: no OpenID provider is packaged in Debian (Keycloak, Dex, Authelia are not; LemonLDAP::NG
is, but needs a web server, a session store and a portal configured before it issues a token),
and no registry is reachable for Keycloak's image. oidc-provider-mock is a small Flask
application on Authlib (MIT) that implements discovery, the authorization code flow, userinfo and
JWKS, takes any client id and secret, and returns whatever claims a person is given. Its login page
asks for the subject only (no password: logins with passwords are under test with LDAP), and it
ignores PKCE's code_challenge, as RFC 6749 3.1 lets a server ignore parameters it does not know:
the test checks the Hub sends one.

The provider runs in a container on this machine's Docker, beside the test-bed hosts, and is its
own issuer at https://<its address>:PORT: the browser here and the Hub inside a host reach it at
that same address (a container the test made), so no name has to resolve anywhere.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from testbed import acme, testbed

PORT = 9443
VERSION = "0.3.4"

DOCKERFILE = f"""ARG BASE_IMAGE
FROM $BASE_IMAGE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY build-ca.crt serve-provider /opt/provider/
RUN python3 -m venv /opt/provider/venv \\
 && PIP_CERT=/opt/provider/build-ca.crt /opt/provider/venv/bin/pip install --no-cache-dir oidc-provider-mock=={VERSION}
CMD ["/opt/provider/venv/bin/python", "/opt/provider/serve-provider"]
"""

# Waits for /tls (the certificate for its own address, and the people), then serves over HTTPS.
SERVE = """import json, os, time
from pathlib import Path

while not Path("/tls/ready").exists():
    time.sleep(0.2)
import oidc_provider_mock
from oidc_provider_mock._storage import User
from werkzeug.serving import run_simple

people = json.loads(Path("/tls/people.json").read_text())
app = oidc_provider_mock.app(user_claims=[User(sub=sub, claims=claims) for sub, claims in people.items()])
run_simple("0.0.0.0", %d, app, ssl_context=("/tls/server.pem", "/tls/server.key"), threaded=True)
""" % PORT


def image() -> str:
    ca_bundle = Path(testbed.BUILD_CA_CERTIFICATES).read_text()
    return testbed._standin_image("oidc-provider", DOCKERFILE, {"serve-provider": SERVE, "build-ca.crt": ca_bundle})


class Provider:
    def __init__(self, name: str, address: str, ca: Path):
        self.name, self.address, self.ca = name, address, ca

    @property
    def issuer(self) -> str:
        return f"https://{self.address}:{PORT}"

    def remove(self) -> None:
        testbed.docker("rm", "-f", self.name, check=False)


def start(workdir: Path, people: dict[str, dict]) -> Provider:
    """A provider whose people are `people` ({subject: claims}), with a certificate for its own
    address from a new test CA (Provider.ca)."""
    name = f"{testbed.LABEL}-oidc-{uuid.uuid4().hex[:8]}"
    testbed.docker("run", "-d", "--name", name, "--label", testbed.LABEL, image())
    address = testbed.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).stdout.strip()
    tls = acme.test_ca(workdir, ["oidc.test"], [address], name="oidc")
    (workdir / "people.json").write_text(json.dumps(people))
    for local, remote in ((tls["certificate"], "server.pem"), (tls["key"], "server.key"),
                          (workdir / "people.json", "people.json")):
        testbed.docker("cp", str(local), f"{name}:/tmp/{remote}")
    testbed.docker("exec", name, "sh", "-c", "mkdir -p /tls && mv /tmp/server.pem /tmp/server.key /tmp/people.json /tls/"
                   " && touch /tls/ready")
    provider = Provider(name, address, tls["ca"])
    deadline = time.monotonic() + 60
    while testbed.docker("exec", name, "python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {PORT}))",
                         check=False).returncode != 0:
        assert time.monotonic() < deadline, testbed.docker("logs", name, check=False).stdout
        time.sleep(0.5)
    return provider
