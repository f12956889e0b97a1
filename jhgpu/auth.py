"""Who logs in to the Hub (hub_auth): the Hub's own accounts ("native"), the lab's LDAP
directory ("ldap") or its single sign-on provider ("oidc"). Decisions only: settings (and the
provider's discovery document, read on the host by jhgpu/facts/identity.py) in, the Hub's
authenticator settings and the files it needs out.

With "ldap" the Hub runs jupyterhub-ldapauthenticator (LDAP_AUTHENTICATOR_VERSION), extended by
files/directory_auth.py: a person's groups (the cn of every group under ldap_group_search_base
that lists them) become the Hub's groups at each login (JupyterHub's manage_groups), decide who
may log in (ldap_allowed_groups) and who is admin (ldap_admin_groups). The connection is always
encrypted (StartTLS or LDAPS) and the server's certificate always verified: ldap3, the library
underneath, verifies nothing unless told (ldap3.Tls' `validate` defaults to ssl.CERT_NONE).
Secrets (the service account's password) and the CA travel as files into the Hub's root-only
data folder, which the Hub reads at start.

With "oidc" the Hub runs oauthenticator's GenericOAuthenticator (OAUTHENTICATOR_VERSION) with
PKCE, the endpoints from the issuer's discovery document (OpenID Connect Discovery 1.0, section
4: the document's issuer must equal the issuer URL it was read from), the user name and groups
from the provider's userinfo claims, and the client secret from a file.
"""

from __future__ import annotations

NATIVE, LDAP, OIDC = "native", "ldap", "oidc"
AUTH_MODES = (NATIVE, LDAP, OIDC)
LDAP_TLS = ("starttls", "ldaps")
# jupyterhub-ldapauthenticator 2.0.2 is the newest release on PyPI (pip download); its wheel's metadata
# requires jupyterhub >= 4.1.6 and ldap3 >= 2.9.1, so it runs with the pinned JupyterHub 5.
LDAP_AUTHENTICATOR_VERSION = "2.0.2"
# In the Hub's data folder (root's, mode 0700), mounted into the Hub's container.
LDAP_CA_FILE = "ldap-ca.pem"
LDAP_PASSWORD_FILE = "ldap-search-password"
# oauthenticator 17.4.0 is the newest release on PyPI (pip download, 2026-11); its metadata needs
# jupyterhub >= 2.2. PKCE (enable_pkce) is on by default since 17.0 in every OAuthenticator.
OAUTHENTICATOR_VERSION = "17.4.0"
OIDC_CA_FILE = "oidc-ca.pem"
OIDC_SECRET_FILE = "oidc-client-secret"
DISCOVERY_PATH = "/.well-known/openid-configuration"
# The endpoints the Hub needs from the discovery document (OpenID Connect Discovery 1.0, 3).
ENDPOINTS = {"authorize_url": "authorization_endpoint", "token_url": "token_endpoint",
             "userdata_url": "userinfo_endpoint"}


def auth_uploads(data) -> dict[str, str]:
    """{file on the machine running pyinfra: its name in the Hub's data folder}."""
    if data.hub_auth == LDAP:
        files = {data.ldap_ca_certificate: LDAP_CA_FILE, data.ldap_search_password_file: LDAP_PASSWORD_FILE}
    elif data.hub_auth == OIDC:
        files = {data.oidc_ca_certificate: OIDC_CA_FILE, data.oidc_client_secret_file: OIDC_SECRET_FILE}
    else:
        return {}
    return {local: name for local, name in files.items() if local}


def callback_url(data) -> str:
    """Where the provider sends the browser back: the Hub's own HTTPS address."""
    port = "" if data.https_port == 443 else f":{data.https_port}"
    return f"https://{data.hub_domain}{port}/hub/oauth_callback"


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + DISCOVERY_PATH


def oidc_endpoints(issuer: str, document: dict) -> tuple[dict[str, str], list[str]]:
    """The Hub's endpoint settings from a discovery document, and what is wrong with it."""
    problems = []
    if document.get("issuer") != issuer.rstrip("/") and document.get("issuer") != issuer:
        problems.append(f"its discovery document names another issuer ({document.get('issuer')!r}): "
                        "set oidc_issuer to exactly that")
    endpoints = {}
    for setting, field in ENDPOINTS.items():
        value = document.get(field)
        if not isinstance(value, str) or not value.startswith("https://"):
            problems.append(f"its discovery document has no https {field} (got {value!r})")
        else:
            endpoints[setting] = value
    return endpoints, problems


def auth_context(data, data_dir_in_hub: str, oidc_discovery: dict | None = None) -> dict:
    """What templates/jupyterhub_config.py.j2 says about logins. `oidc_discovery`: the provider's
    discovery document (the OidcDiscovery fact's), for hub_auth "oidc"."""
    if data.hub_auth == OIDC:
        endpoints, _ = oidc_endpoints(data.oidc_issuer, oidc_discovery or {})
        return {"auth": OIDC, "oidc": {
            **endpoints,
            "client_id": data.oidc_client_id,
            "secret_file": f"{data_dir_in_hub}/{OIDC_SECRET_FILE}",
            "ca_file": f"{data_dir_in_hub}/{OIDC_CA_FILE}" if data.oidc_ca_certificate else None,
            "callback_url": callback_url(data),
            "scopes": list(data.oidc_scopes),
            "username_claim": data.oidc_username_claim,
            "groups_claim": data.oidc_groups_claim,
            "allowed_groups": list(data.oidc_allowed_groups),
            "admin_groups": list(data.oidc_admin_groups),
        }}
    if data.hub_auth != LDAP:
        return {"auth": NATIVE}
    starttls = data.ldap_tls == "starttls"
    ldap = {
        "server_address": data.ldap_server,
        "server_port": ldap_port(data),
        "tls_strategy": "before_bind" if starttls else "on_connect",
        "ca_file": f"{data_dir_in_hub}/{LDAP_CA_FILE}" if data.ldap_ca_certificate else None,
        "bind_dn_template": [data.ldap_bind_dn_template] if data.ldap_bind_dn_template else [],
        "lookup_dn": bool(data.ldap_user_search_base),
        "user_search_base": data.ldap_user_search_base or "",
        "user_attribute": data.ldap_user_attribute,
        "search_user_dn": data.ldap_search_user_dn or "",
        "password_file": f"{data_dir_in_hub}/{LDAP_PASSWORD_FILE}" if data.ldap_search_password_file else None,
        "group_search_base": data.ldap_group_search_base,
        "allowed_groups": list(data.ldap_allowed_groups),
        "admin_groups": list(data.ldap_admin_groups),
    }
    return {"auth": LDAP, "ldap": ldap}



def ldap_port(data) -> int:
    return data.ldap_port or (389 if data.ldap_tls == "starttls" else 636)


def identity_check(data) -> tuple[str, dict, str | None] | None:
    """How to check the lab's service from the Hub's server: the fact of jhgpu/facts/identity.py
    ("directory" for "ldap", "discovery" for "oidc"), its arguments but the CA, and the CA file
    (on the machine running pyinfra) whose PEM is its `ca_pem`. None for "native"."""
    if data.hub_auth == LDAP:
        return ("directory", {"server": data.ldap_server, "port": ldap_port(data), "tls": data.ldap_tls},
                data.ldap_ca_certificate)
    if data.hub_auth == OIDC:
        return "discovery", {"url": discovery_url(data.oidc_issuer)}, data.oidc_ca_certificate
    return None


def identity_problems(data, answer: dict | None) -> list[str]:
    """What the server's answer (the fact identity_check names) says is wrong, naming the setting."""
    if data.hub_auth == NATIVE:
        return []
    if answer is None:
        return ["python3 is needed on this host to check the directory or provider before the deploy (apt install "
                "python3)"]
    if data.hub_auth == LDAP:
        if "error" in answer:
            return [f"setting 'ldap_server': the directory at {data.ldap_server}:{ldap_port(data)} ({data.ldap_tls}) "
                    f"does not answer from this host: {answer['error']}"]
        return []
    if "error" in answer:
        return [f"setting 'oidc_issuer': the provider's discovery document {discovery_url(data.oidc_issuer)} "
                f"cannot be read from this host: {answer['error']}"]
    _, problems = oidc_endpoints(data.oidc_issuer, answer.get("document") or {})
    return [f"setting 'oidc_issuer': {problem}" for problem in problems]

