"""Pebble, Let's Encrypt's ACME test server, on a test-bed host, from Debian's package.

Let's Encrypt is out of reach, so the deploy's ACME path runs against Pebble instead, for real:
the proxy registers an account, orders a certificate for DOMAIN, and Pebble validates the
challenge by connecting to DOMAIN, which the host's /etc/hosts points at itself (127.0.0.1, where
the proxy's ports are published). The proxy reaches Pebble's directory at the host's own address
over HTTPS, with a certificate from a test CA made here: the deploy's acme_ca_root. Pebble signs
what it issues with a root of its own, made at each start (`issuing_root`).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
from pathlib import Path

DOMAIN = "hub.test"
PEBBLE_DIR = "/etc/pebble-testbed"
DIRECTORY_PORT, MANAGEMENT_PORT = 14000, 15000


def test_ca(folder: Path, names: list[str], addresses: list[str] = (), name: str = "server") -> dict[str, Path]:
    """A CA and a server certificate it signed for `names` and `addresses`, as PEM files:
    {"ca", "certificate" (the full chain), "key"}. Made by the tests, not captured."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test bed CA for {name}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    alternative = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    server = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
              .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
              # As real CAs issue them; Python 3.13's strict verification requires it.
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    files = {"ca": folder / f"{name}-ca.pem", "certificate": folder / f"{name}.pem", "key": folder / f"{name}.key"}
    files["ca"].write_bytes(ca.public_bytes(pem))
    files["certificate"].write_bytes(server.public_bytes(pem) + ca.public_bytes(pem))
    files["key"].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return files


def start_pebble(host, workdir: Path) -> dict:
    """Install and start Pebble on the host; return the settings that send the deploy's ACME
    orders to it for DOMAIN."""
    from testbed import testbed

    address = host.ssh("hostname -I").stdout.split()[0]
    tls = test_ca(workdir, ["acme.test"], [address], name="pebble")
    config = {"pebble": {"listenAddress": f"0.0.0.0:{DIRECTORY_PORT}",
                         "managementListenAddress": f"127.0.0.1:{MANAGEMENT_PORT}",
                         "certificate": f"{PEBBLE_DIR}/pebble.pem", "privateKey": f"{PEBBLE_DIR}/pebble.key",
                         # Challenges are answered where the proxy's ports are published.
                         "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "",
                         "externalAccountBindingRequired": False}}
    (workdir / "pebble-config.json").write_text(json.dumps(config))
    host.ssh("apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q pebble curl")
    host.ssh(f"mkdir -p {PEBBLE_DIR}")
    for local, remote in ((tls["certificate"], "pebble.pem"), (tls["key"], "pebble.key"),
                          (workdir / "pebble-config.json", "config.json")):
        testbed.docker("cp", str(local), f"{host.name}:{PEBBLE_DIR}/{remote}")
    host.ssh(f"grep -q ' {DOMAIN}$' /etc/hosts || echo '127.0.0.1 {DOMAIN}' >> /etc/hosts")
    # No random sleeps before validating, and no nonces rejected at random (Pebble's defaults,
    # meant to exercise clients' retries): the test wants the plain path.
    host.ssh(f"systemd-run --unit pebble -E PEBBLE_VA_NOSLEEP=1 -E PEBBLE_WFE_NONCEREJECT=0 "
             f"/usr/bin/pebble -config {PEBBLE_DIR}/config.json")
    host.ssh(f"for _ in $(seq 30); do curl -sf --cacert /dev/null -k https://127.0.0.1:{DIRECTORY_PORT}/dir "
             ">/dev/null && exit 0; sleep 1; done; exit 1")
    return {"hub_tls": "letsencrypt", "hub_domain": DOMAIN, "acme_email": f"admin@{DOMAIN}",
            "acme_ca_url": f"https://{address}:{DIRECTORY_PORT}/dir", "acme_ca_root": str(tls["ca"])}


def issuing_root(host) -> str:
    """The root Pebble signs certificates with (made when it started), as PEM."""
    return host.ssh(f"curl -sfk https://127.0.0.1:{MANAGEMENT_PORT}/roots/0").stdout
