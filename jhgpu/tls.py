"""HTTPS in front of the Hub: a Caddy proxy in the Hub's Compose project. No I/O on hosts.

Caddy rather than Traefik: its whole configuration here is a few lines of Caddyfile, it obtains
and renews ACME certificates by itself (HTTP-01 or TLS-ALPN-01), it has a local CA for sites
without a public name, and it keeps certificates and the ACME account in one data folder, which
lives on the host so rebuilds never order again. Traefik (TLJH's choice) needs more configuration
for the same, and its dynamic discovery of containers is not needed for one Hub.

`proxy_plan(data)` decides everything: whether there is a proxy, the names its certificate is
for, the Caddyfile's `tls` line, where its files live on the host. `tls_problems(data)` checks
the settings that only make sense together, and the certificate files, before any change.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

TLS_MODES = ("internal", "letsencrypt", "files", "off")
PROXY_DIGEST_LABEL = "org.jupytergpu.proxy-config-digest"
PROXY_DIR = "proxy"  # under jupyterhub_root: the Caddyfile, the certificate files, data/ (Caddy's /data)
CADDY_DATA = "/data"  # the official image's XDG_DATA_HOME: certificates, ACME account, local CA
CERTIFICATE, KEY, ACME_CA_ROOT = "certificate.pem", "key.pem", "acme-ca-root.pem"  # in PROXY_DIR/tls
# Where the local CA's root certificate is, under Caddy's data folder ("internal").
INTERNAL_ROOT = "caddy/pki/authorities/local/root.crt"
HSTS_MAX_AGE = 31536000  # a year, in seconds


@dataclass(frozen=True)
class ProxyPlan:
    container: str
    directory: str  # on the host
    names: tuple[str, ...]  # what the certificate is for; the first is the site's main name
    tls_line: str  # the Caddyfile's tls directive ("" for an ACME certificate)
    global_options: tuple[str, ...]
    headers: tuple[str, ...] = ()  # the site's header directives
    uploads: dict[str, str] = field(default_factory=dict)  # local file -> name in directory/tls
    ports: tuple[str, ...] = ()  # Compose's ports entries

    @property
    def internal_root(self) -> str:
        return f"{self.directory}/data/{INTERNAL_ROOT}"


def host_port(address: str, port: int) -> str:
    """A published port in Compose's form: address:port, an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def proxy_plan(data, hostname: str | None = None) -> ProxyPlan | None:
    """The proxy for these settings; None with hub_tls "off". `hostname`: the server's host
    name (the server.Hostname fact), a name of the "internal" certificate without hub_domain."""
    mode = data.hub_tls
    if mode == "off":
        return None
    directory = f"{data.jupyterhub_root}/{PROXY_DIR}"
    if data.hub_domain:
        names = (data.hub_domain,)
    else:
        names = tuple(dict.fromkeys(name for name in ("localhost", hostname) if name))
    # Clients that send no name (an IP address in the browser) get the main name's certificate.
    options = [f"default_sni {names[0]}"]
    uploads = {}
    if mode == "letsencrypt":
        options += [f"email {data.acme_email}", f"acme_ca {data.acme_ca_url}"]
        if data.acme_ca_root:
            options.append(f"acme_ca_root /etc/caddy/tls/{ACME_CA_ROOT}")
            uploads[data.acme_ca_root] = ACME_CA_ROOT
        tls_line = ""
    elif mode == "files":
        uploads.update({data.tls_certificate_file: CERTIFICATE, data.tls_key_file: KEY})
        tls_line = f"tls /etc/caddy/tls/{CERTIFICATE} /etc/caddy/tls/{KEY}"
    else:
        options.append("skip_install_trust")  # the proxy's container needs no trust store of its own
        tls_line = "tls internal"
    ports = (f"{host_port(data.hub_bind_address, data.http_port)}:80",
             f"{host_port(data.hub_bind_address, data.https_port)}:443")
    # A certificate browsers trust: browsers are told to use HTTPS alone for a year (HSTS), so no
    # one on the way can turn a user's next visit into plain HTTP and read the password. Not with
    # the proxy's own CA: HSTS forbids clicking through the warning its certificate raises until
    # users trust its root, and would lock them out.
    headers = (f'header Strict-Transport-Security "max-age={HSTS_MAX_AGE}"',) if mode != "internal" else ()
    return ProxyPlan(container=proxy_container(data), directory=directory, names=names,
                     tls_line=tls_line, global_options=tuple(options), headers=headers, uploads=uploads,
                     ports=ports)


def proxy_container(data) -> str | None:
    """The proxy's container name; None with hub_tls "off" (no proxy)."""
    return f"{data.compose_project_name}-proxy" if data.hub_tls != "off" else None


def https_url(data, plan: ProxyPlan) -> str:
    port = "" if data.https_port == 443 else f":{data.https_port}"
    return f"https://{plan.names[0]}{port}/"


# --- settings that only make sense together, and the certificate files ----------------------------

def tls_problems(data: dict) -> list[str]:
    mode = data["hub_tls"]
    problems = []
    if mode != "off" and data["http_port"] == data["https_port"]:
        problems.append(f"settings 'http_port' and 'https_port' are both {data['https_port']}")
    if mode == "letsencrypt":
        for name, why in (("hub_domain", "the name the certificate is for"),
                          ("acme_email", "the ACME account's contact")):
            if not data[name]:
                problems.append(f"setting '{name}' is needed with hub_tls = 'letsencrypt': {why}")
    if mode == "files":
        missing = [name for name in ("tls_certificate_file", "tls_key_file") if not data[name]]
        problems += [f"setting '{name}' is needed with hub_tls = 'files'" for name in missing]
        if not missing:
            problems += certificate_problems(data["tls_certificate_file"], data["tls_key_file"], data["hub_domain"])
    return problems


def certificate_problems(certificate_file: str, key_file: str, domain: str | None,
                         now: datetime.datetime | None = None) -> list[str]:
    """What is wrong with a certificate and key pair: a key of another certificate, an expired or
    not yet valid certificate, or one that does not cover hub_domain."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    now = now or datetime.datetime.now(datetime.timezone.utc)
    with open(certificate_file, "rb") as handle:
        certificate = x509.load_pem_x509_certificates(handle.read())[0]  # the leaf comes first
    try:
        with open(key_file, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except (ValueError, TypeError) as error:
        return [f"setting 'tls_key_file' {key_file!r} is not an unencrypted PEM private key ({error})"]
    problems = []
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.PEM, public)
            != certificate.public_key().public_bytes(serialization.Encoding.PEM, public)):
        problems.append(f"setting 'tls_key_file' {key_file!r} is not the key of the certificate in "
                        f"tls_certificate_file {certificate_file!r}")
    if certificate.not_valid_after_utc <= now:
        problems.append(f"setting 'tls_certificate_file' {certificate_file!r} expired on "
                        f"{certificate.not_valid_after_utc:%Y-%m-%d}")
    elif certificate.not_valid_before_utc > now:
        problems.append(f"setting 'tls_certificate_file' {certificate_file!r} is not valid before "
                        f"{certificate.not_valid_before_utc:%Y-%m-%d}")
    if domain and not covers(certificate_names(certificate), domain):
        problems.append(f"setting 'tls_certificate_file' {certificate_file!r} is not for hub_domain {domain!r} "
                        f"(it is for {', '.join(certificate_names(certificate)) or 'no DNS name'})")
    return problems


def certificate_names(certificate) -> list[str]:
    from cryptography import x509

    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return names.get_values_for_type(x509.DNSName)


def covers(names: list[str], domain: str) -> bool:
    """Whether a certificate for `names` is valid for `domain` (a wildcard covers one label)."""
    return any(name == domain or (name.startswith("*.") and "." in domain and domain.split(".", 1)[1] == name[2:])
               for name in names)
