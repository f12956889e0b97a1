"""HTTPS settings and the proxy's files (jhgpu/tls.py), and the refusals of bad certificates.
The certificates here are made by the tests (cryptography), not captured."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jhgpu.hub import hub_files
from recorded import default_settings
from test_settings import refused

NOW = datetime.datetime.now(datetime.timezone.utc)


def make_certificate(folder, names=("hub.example.org",), days=(-1, 90), key=None, name="hub"):
    """A self-signed certificate for `names`, valid from NOW+days[0] to NOW+days[1]; its key
    file (or `key`'s). Returns (certificate file, key file) as strings."""
    own = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(own.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(NOW + datetime.timedelta(days=days[0]))
                   .not_valid_after(NOW + datetime.timedelta(days=days[1]))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
                   .sign(own, hashes.SHA256()))
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes((key or own).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def rendered(**overrides) -> dict[str, str]:
    return hub_files(SimpleNamespace(**{**default_settings(), **overrides}), hostname="gpu01").files


# --- what each mode renders ----------------------------------------------------------------------

def test_by_default_the_hub_is_https_from_the_proxys_own_ca():
    files = rendered()
    assert files["proxy/Caddyfile"].splitlines()[-4:] == ["localhost, gpu01 {", "\ttls internal",
                                                          "\treverse_proxy hub:8000", "}"]
    assert "\tdefault_sni localhost\n" in files["proxy/Caddyfile"]
    compose = files["docker-compose.yml"]
    assert "image: caddy:2.11.4" in compose and "/home/jupyterhub/JupyterHubGPU/proxy/data:/data" in compose
    # Browsers send the Hub's cookies over HTTPS only.
    assert "c.JupyterHub.tornado_settings = {'cookie_options': {'secure': True}}" in files["jupyterhub_config.py"]


def test_lets_encrypt_for_a_real_domain():
    files = rendered(hub_tls="letsencrypt", hub_domain="hub.example.org", acme_email="admin@example.org")
    caddyfile = files["proxy/Caddyfile"]
    assert "\temail admin@example.org\n" in caddyfile
    assert "\tacme_ca https://acme-v02.api.letsencrypt.org/directory\n" in caddyfile
    # No tls line (Caddy's ACME); browsers are told to come back over HTTPS alone for a year.
    assert 'hub.example.org {\n\theader Strict-Transport-Security "max-age=31536000"\n\treverse_proxy hub:8000\n}' \
        in caddyfile
    assert '- "0.0.0.0:80:80"' in files["docker-compose.yml"] and '- "0.0.0.0:443:443"' in files["docker-compose.yml"]


def test_a_private_acme_server_and_its_root(tmp_path):
    root, _ = make_certificate(tmp_path, ("acme.internal",), name="acme")
    files = rendered(hub_tls="letsencrypt", hub_domain="hub.lab.internal", acme_email="it@lab.internal",
                     acme_ca_url="https://acme.lab.internal/directory", acme_ca_root=root)
    assert "\tacme_ca_root /etc/caddy/tls/acme-ca-root.pem\n" in files["proxy/Caddyfile"]


def test_own_certificate_files(tmp_path):
    cert, key = make_certificate(tmp_path)
    files = rendered(hub_tls="files", hub_domain="hub.example.org", tls_certificate_file=cert, tls_key_file=key)
    assert "\ttls /etc/caddy/tls/certificate.pem /etc/caddy/tls/key.pem\n" in files["proxy/Caddyfile"]
    assert '\theader Strict-Transport-Security "max-age=31536000"\n' in files["proxy/Caddyfile"]


def test_off_means_plain_http_and_no_proxy():
    files = rendered(hub_tls="off")
    assert "proxy/Caddyfile" not in files and "proxy:" not in files["docker-compose.yml"]
    assert "c.JupyterHub.tornado_settings = {}" in files["jupyterhub_config.py"]


# --- bad input, refused before any change ---------------------------------------------------------

@pytest.mark.parametrize("overrides, expected", [
    ({"hub_tls": "letsencrypt", "acme_email": "a@example.org"},
     "setting 'hub_domain' is needed with hub_tls = 'letsencrypt'"),
    ({"hub_tls": "letsencrypt", "hub_domain": "hub.example.org"},
     "setting 'acme_email' is needed with hub_tls = 'letsencrypt'"),
    ({"hub_tls": "letsencrypt", "hub_domain": "192.0.2.10", "acme_email": "a@example.org"},
     "setting 'hub_domain' must be a domain name, not the IP address '192.0.2.10'"),
    ({"hub_domain": "Hub.Example.org"}, "setting 'hub_domain' must be a lowercase domain name"),
    ({"hub_tls": "files"}, "setting 'tls_certificate_file' is needed with hub_tls = 'files'"),
    ({"hub_tls": "https"}, "setting 'hub_tls' must be one of"),
    ({"acme_email": "admin"}, "setting 'acme_email' must be an e-mail address"),
    ({"http_port": 443}, "settings 'http_port' and 'https_port' are both 443"),
])
def test_bad_https_settings_are_refused(overrides, expected):
    assert expected in refused(**overrides)


def test_a_key_of_another_certificate_is_refused(tmp_path):
    cert, _ = make_certificate(tmp_path)
    other = ec.generate_private_key(ec.SECP256R1())
    _, key = make_certificate(tmp_path, key=other, name="other")
    message = refused(hub_tls="files", tls_certificate_file=cert, tls_key_file=key)
    assert f"setting 'tls_key_file' '{key}' is not the key of the certificate in tls_certificate_file" in message


def test_an_expired_certificate_or_one_for_another_name_is_refused(tmp_path):
    cert, key = make_certificate(tmp_path, days=(-90, -1))
    assert f"setting 'tls_certificate_file' '{cert}' expired on" in refused(
        hub_tls="files", tls_certificate_file=cert, tls_key_file=key)
    cert, key = make_certificate(tmp_path, names=("other.example.org",), name="other")
    assert "is not for hub_domain 'hub.example.org' (it is for other.example.org)" in refused(
        hub_tls="files", hub_domain="hub.example.org", tls_certificate_file=cert, tls_key_file=key)


def test_a_wildcard_certificate_covers_the_domain(tmp_path):
    from test_settings import check

    cert, key = make_certificate(tmp_path, names=("*.example.org",))
    check(hub_tls="files", hub_domain="hub.example.org", tls_certificate_file=cert, tls_key_file=key)


def test_the_readme_shows_the_caddyfile_the_deploy_renders_for_lets_encrypt():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    shown = readme.split("The deploy renders this Caddyfile")[1].split("```\n", 1)[1].split("   ```")[0]
    files = rendered(hub_tls="letsencrypt", hub_domain="hub.example.org", acme_email="it@example.org")
    caddyfile = files["proxy/Caddyfile"].split("\n", 2)[2]  # less its two comment lines
    assert "\n".join(line.removeprefix("   ") for line in shown.splitlines()) == caddyfile.rstrip("\n")
