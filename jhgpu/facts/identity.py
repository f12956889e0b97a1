"""Facts about the lab's directory and single sign-on provider, as the server sees them: whether
it reaches them and trusts their certificates, before the deploy changes anything.

Both run Python 3's standard library on the host (Ubuntu and Debian servers have python3), so
the check is the Hub's own path to the service: the server's network and DNS, the site's CA. The
CA travels in the command: a certificate is public.
"""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase

# Prints {"document": {...}} or {"error": "..."}; argv: the discovery URL, the CA's PEM or "".
_READ_DISCOVERY = r'''
import json, ssl, sys, urllib.request
url, ca = sys.argv[1], sys.argv[2]
try:
    context = ssl.create_default_context(cadata=ca or None)
    with urllib.request.urlopen(url, context=context, timeout=15) as answer:
        print(json.dumps({"document": json.load(answer)}))
except Exception as error:
    reason = getattr(error, "reason", error)
    if isinstance(reason, ssl.SSLCertVerificationError):
        print(json.dumps({"error": "its certificate does not verify: " + str(reason.verify_message)}))
    else:
        print(json.dumps({"error": str(reason) or type(reason).__name__}))
'''

# Prints {"ok": true} or {"error": "..."}; argv: server, port, "starttls" or "ldaps", the CA or "".
# StartTLS is LDAP's extended operation 1.3.6.1.4.1.1466.20037 (RFC 4511, 4.14): message 1, sent
# as its fixed BER encoding; the answer's resultCode 0 means "go ahead".
_CHECK_DIRECTORY = r'''
import json, socket, ssl, sys
server, port, mode, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
oid = b"1.3.6.1.4.1.1466.20037"
request = b"\x30" + bytes([len(oid) + 7]) + b"\x02\x01\x01\x77" + bytes([len(oid) + 2]) + b"\x80" + bytes([len(oid)]) + oid
try:
    raw = socket.create_connection((server, port), timeout=15)
    if mode == "starttls":
        raw.sendall(request)
        answer = raw.recv(4096)
        if b"\x78" not in answer[:8] or b"\x0a\x01\x00" not in answer:
            raise OSError("it refused StartTLS")
    context = ssl.create_default_context(cadata=ca or None)
    with context.wrap_socket(raw, server_hostname=server):
        print(json.dumps({"ok": True}))
except ssl.SSLCertVerificationError as error:
    print(json.dumps({"error": "its certificate does not verify: " + str(error.verify_message)}))
except Exception as error:
    print(json.dumps({"error": str(error) or type(error).__name__}))
'''


def _python(script: str, *args: str) -> str:
    return " ".join(["python3", "-c", shlex.quote(script), *(shlex.quote(arg) for arg in args)])


class _JsonAnswer(FactBase):
    requires_command = "python3"

    def process(self, output):
        return json.loads("\n".join(output))


class OidcDiscovery(_JsonAnswer):
    """The provider's discovery document as the server reads it over HTTPS, verifying the
    provider's certificate against `ca_pem` (else the server's CAs): {"document": {...}} or
    {"error": why}; None without python3."""

    def command(self, url: str, ca_pem: str = ""):
        return _python(_READ_DISCOVERY, url, ca_pem)


class DirectoryAnswers(_JsonAnswer):
    """Whether the server reaches the LDAP directory and trusts its certificate (after StartTLS,
    or at once with LDAPS): {"ok": True} or {"error": why}; None without python3."""

    def command(self, server: str, port: int, tls: str, ca_pem: str = ""):
        return _python(_CHECK_DIRECTORY, server, str(port), tls, ca_pem)


def identity_answer(host, check: tuple[str, dict, str | None] | None) -> dict | None:
    """The answer of the fact jhgpu.auth.identity_check names (None for native logins)."""
    if check is None:
        return None
    kind, arguments, ca_file = check
    ca_pem = open(ca_file).read() if ca_file else ""
    fact = DirectoryAnswers if kind == "directory" else OidcDiscovery
    return host.get_fact(fact, **arguments, ca_pem=ca_pem)
