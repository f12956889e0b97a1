"""Logins from the lab's LDAP directory (hub_auth = "ldap"): the settings' checks and the Hub's
configuration they make (the logins themselves run against a real OpenLDAP server in
test_e2e_ldap.py)."""

from __future__ import annotations

import ssl
import sys
import types

import pytest

from jhgpu.auth import ldap_uploads
from jhgpu.settings import SettingsError, validate
from recorded import default_settings
from test_hub import Section, files, settings

TEMPLATE = "uid={username},ou=people,dc=lab,dc=test"
LDAP = {"hub_auth": "ldap", "ldap_server": "ldap.lab.test", "ldap_bind_dn_template": TEMPLATE}


def ldap_config(**overrides) -> Section:
    """What JupyterHub would be configured with: the rendered file run with a stand-in of
    files/directory_auth.py and a service account's password file the test provides."""
    config = Section()
    stub = types.ModuleType("directory_auth")
    stub.DirectoryAuthenticator = "DirectoryAuthenticator"
    sys.modules["directory_auth"] = stub
    opened = []

    def fake_open(path, *args, **kwargs):
        opened.append(path)
        return __import__("io").StringIO("the-service-password\n")

    rendered = files(**{**LDAP, **overrides})["jupyterhub_config.py"]
    exec(compile(rendered, "jupyterhub_config.py", "exec"), {"get_config": lambda: config, "open": fake_open})
    config.opened = opened
    config.rendered = rendered
    return config


def test_native_logins_stay_the_default():
    config = files()["jupyterhub_config.py"]
    assert "DeployAuthenticator" in config and "directory_auth" not in config


def test_ldap_logins_are_encrypted_and_verify_the_servers_certificate():
    config = ldap_config()
    auth = config.DirectoryAuthenticator
    assert config.JupyterHub.authenticator_class == "DirectoryAuthenticator"
    assert (auth.server_address, auth.server_port, auth.tls_strategy) == ("ldap.lab.test", 389, "before_bind")
    assert auth.tls_kwargs == {"validate": ssl.CERT_REQUIRED}  # the image's CAs
    assert auth.bind_dn_template == [TEMPLATE]
    assert config.Authenticator.manage_groups is True and config.Authenticator.admin_users == {"admin"}
    ldaps = ldap_config(ldap_tls="ldaps", ldap_ca_certificate="lab-ca.pem")
    assert (ldaps.DirectoryAuthenticator.server_port, ldaps.DirectoryAuthenticator.tls_strategy) == (636, "on_connect")
    assert ldaps.DirectoryAuthenticator.tls_kwargs["ca_certs_file"] == "/srv/jupyterhub/data/ldap-ca.pem"


def test_the_service_accounts_password_is_read_from_the_hubs_data_folder_not_written(tmp_path):
    password = tmp_path / "ldap-password"
    password.write_text("the-service-password\n")
    config = ldap_config(ldap_bind_dn_template=None, ldap_user_search_base="ou=people,dc=lab,dc=test",
                         ldap_search_user_dn="cn=hub,ou=services,dc=lab,dc=test", ldap_search_password_file=str(password))
    auth = config.DirectoryAuthenticator
    assert auth.lookup_dn is True and auth.user_search_base == "ou=people,dc=lab,dc=test"
    assert auth.lookup_dn_search_user == "cn=hub,ou=services,dc=lab,dc=test"
    assert auth.lookup_dn_search_password == "the-service-password"
    assert config.opened == ["/srv/jupyterhub/data/ldap-search-password"]
    assert "the-service-password" not in config.rendered
    data = settings(**LDAP, ldap_search_password_file=str(password))
    assert ldap_uploads(data) == {str(password): "ldap-search-password"}


def test_directory_groups_decide_who_logs_in_and_who_is_admin():
    auth = ldap_config(ldap_group_search_base="ou=groups,dc=lab,dc=test", ldap_allowed_groups=["vision", "nlp"],
                       ldap_admin_groups=["gpu-admins"]).DirectoryAuthenticator
    assert auth.group_search_base == "ou=groups,dc=lab,dc=test"
    assert (auth.allowed_group_names, auth.admin_group_names) == (["vision", "nlp"], ["gpu-admins"])


@pytest.mark.parametrize("bad, message", [
    ({"ldap_server": None}, "setting 'ldap_server' is needed with hub_auth = 'ldap'"),
    ({"ldap_user_search_base": "ou=people,dc=lab,dc=test"},
     "settings 'ldap_bind_dn_template' and 'ldap_user_search_base': set exactly one"),
    ({"ldap_search_user_dn": "cn=hub,dc=lab,dc=test"},
     "settings 'ldap_search_user_dn' and 'ldap_search_password_file' go together"),
    ({"ldap_allowed_groups": ["vision"]}, "setting 'ldap_group_search_base' is needed for ldap_allowed_groups"),
    ({"ldap_tls": "none"}, "setting 'ldap_tls' must be one of"),
    ({"ldap_bind_dn_template": "uid=alice,dc=lab"}, "setting 'ldap_bind_dn_template' must be a DN with {username}"),
    ({"ldap_admin_groups": ["../etc"]}, "setting 'ldap_admin_groups' item 0: must be a group name"),
])
def test_bad_ldap_settings_are_refused_naming_the_setting_and_host(bad, message):
    with pytest.raises(SettingsError) as refused:
        validate("gpu01", {**default_settings(), **LDAP, **bad})
    assert "gpu01" in str(refused.value) and message in str(refused.value)
