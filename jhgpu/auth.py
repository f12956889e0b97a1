"""Who logs in to the Hub (hub_auth): the Hub's own accounts ("native") or the lab's LDAP
directory ("ldap"). Decisions only: settings in, the Hub's authenticator settings and the files
it needs out.

With "ldap" the Hub runs jupyterhub-ldapauthenticator (LDAP_AUTHENTICATOR_VERSION), extended by
files/directory_auth.py: a person's groups (the cn of every group under ldap_group_search_base
that lists them) become the Hub's groups at each login (JupyterHub's manage_groups), decide who
may log in (ldap_allowed_groups) and who is admin (ldap_admin_groups). The connection is always
encrypted (StartTLS or LDAPS) and the server's certificate always verified: ldap3, the library
underneath, verifies nothing unless told (ldap3.Tls' `validate` defaults to ssl.CERT_NONE).
Secrets (the service account's password) and the CA travel as files into the Hub's root-only
data folder, which the Hub reads at start.
"""

from __future__ import annotations

NATIVE, LDAP = "native", "ldap"
AUTH_MODES = (NATIVE, LDAP)
LDAP_TLS = ("starttls", "ldaps")
# jupyterhub-ldapauthenticator 2.0.2 is the newest release on PyPI (pip download); its wheel's metadata
# requires jupyterhub >= 4.1.6 and ldap3 >= 2.9.1, so it runs with the pinned JupyterHub 5.
LDAP_AUTHENTICATOR_VERSION = "2.0.2"
# In the Hub's data folder (root's, mode 0700), mounted into the Hub's container.
LDAP_CA_FILE = "ldap-ca.pem"
LDAP_PASSWORD_FILE = "ldap-search-password"


def ldap_uploads(data) -> dict[str, str]:
    """{file on the machine running pyinfra: its name in the Hub's data folder}."""
    if data.hub_auth != LDAP:
        return {}
    files = {data.ldap_ca_certificate: LDAP_CA_FILE, data.ldap_search_password_file: LDAP_PASSWORD_FILE}
    return {local: name for local, name in files.items() if local}


def auth_context(data, data_dir_in_hub: str) -> dict:
    """What templates/jupyterhub_config.py.j2 says about logins."""
    if data.hub_auth != LDAP:
        return {"auth": NATIVE}
    starttls = data.ldap_tls == "starttls"
    ldap = {
        "server_address": data.ldap_server,
        "server_port": data.ldap_port or (389 if starttls else 636),
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
