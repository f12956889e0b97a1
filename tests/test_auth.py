"""Logins from the lab's LDAP directory (hub_auth = "ldap") and single sign-on (hub_auth =
"oidc"): the settings' checks, the preflight's judgement of what the server saw, and the Hub's
configuration they make (the logins themselves run against a real OpenLDAP server in
test_e2e_ldap.py and a real OpenID provider in test_e2e_https.py)."""

from __future__ import annotations

import ssl
import sys
import types

import pytest

from jhgpu.auth import auth_uploads, identity_check, identity_problems
from jhgpu.hub import hub_files
from jhgpu.settings import SettingsError, validate
from recorded import default_settings
from test_hub import Section, files, reading, run_config, settings

TEMPLATE = "uid={username},ou=people,dc=lab,dc=test"
LDAP = {"hub_auth": "ldap", "ldap_server": "ldap.lab.test", "ldap_bind_dn_template": TEMPLATE}


def ldap_config(**overrides) -> Section:
    """What JupyterHub would be configured with: the rendered file run with a stand-in of
    files/directory_auth.py and a service account's password file the test provides."""
    stub = types.ModuleType("directory_auth")
    stub.DirectoryAuthenticator = "DirectoryAuthenticator"
    sys.modules["directory_auth"] = stub
    password_file = reading("the-service-password\n")
    rendered = files(**{**LDAP, **overrides})["jupyterhub_config.py"]
    config = run_config(rendered, password_file)
    config.opened, config.rendered = password_file.opened, rendered
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
    assert auth_uploads(data) == {str(password): "ldap-search-password"}


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


ISSUER = "https://sso.lab.test/realms/lab"
OIDC = {"hub_auth": "oidc", "oidc_issuer": ISSUER, "oidc_client_id": "jupyterhub",
        "oidc_client_secret_file": __file__, "hub_domain": "hub.lab.test", "https_port": 8443}
DISCOVERY = {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
             "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
             "userinfo_endpoint": f"{ISSUER}/protocol/openid-connect/userinfo"}


def oidc_config(discovery=DISCOVERY, **overrides) -> Section:
    """The Hub's configuration for OIDC logins, the provider's discovery document as the server read it."""
    stub = types.ModuleType("oauthenticator.generic")
    stub.GenericOAuthenticator = "GenericOAuthenticator"
    sys.modules["oauthenticator"] = types.ModuleType("oauthenticator")
    sys.modules["oauthenticator.generic"] = stub
    secret_file = reading("the-client-secret\n")
    rendered = hub_files(settings(**{**OIDC, **overrides}), oidc_discovery=discovery).files["jupyterhub_config.py"]
    config = run_config(rendered, secret_file)
    config.opened, config.rendered = secret_file.opened, rendered
    return config


def test_oidc_logins_take_the_endpoints_from_discovery_with_pkce_and_the_callback_on_hub_domain():
    config = oidc_config(oidc_allowed_groups=["vision"], oidc_admin_groups=["gpu-admins"])
    auth = config.GenericOAuthenticator
    assert config.JupyterHub.authenticator_class == "GenericOAuthenticator"
    assert auth.authorize_url == DISCOVERY["authorization_endpoint"] and auth.token_url == DISCOVERY["token_endpoint"]
    assert auth.userdata_url == DISCOVERY["userinfo_endpoint"]
    assert auth.oauth_callback_url == "https://hub.lab.test:8443/hub/oauth_callback"
    assert auth.enable_pkce is True and auth.scope == ["openid", "profile", "email"]
    assert (auth.username_claim, auth.auth_state_groups_key) == ("preferred_username", "oauth_user.groups")
    assert auth.manage_groups is True and (auth.allowed_groups, auth.admin_groups) == ({"vision"}, {"gpu-admins"})
    assert config.Authenticator.allow_all is False and config.Authenticator.admin_users == {"admin"}
    # the secret is read from the Hub's root-only data folder when the Hub starts, never written
    assert auth.client_secret == "the-client-secret" and "the-client-secret" not in config.rendered
    assert config.opened == ["/srv/jupyterhub/data/oidc-client-secret"]
    assert "http_request_kwargs" not in auth  # the image's CAs
    assert oidc_config(https_port=443).GenericOAuthenticator.oauth_callback_url == "https://hub.lab.test/hub/oauth_callback"


def test_oidc_with_the_sites_ca_and_no_allowed_groups():
    config = oidc_config(oidc_ca_certificate="lab-ca.pem", oidc_groups_claim="roles")
    assert config.GenericOAuthenticator.http_request_kwargs == {"ca_certs": "/srv/jupyterhub/data/oidc-ca.pem"}
    assert config.GenericOAuthenticator.auth_state_groups_key == "oauth_user.roles"
    assert config.Authenticator.allow_all is True  # everyone the provider logs in for this client
    data = settings(**OIDC, oidc_ca_certificate="lab-ca.pem")
    assert auth_uploads(data) == {"lab-ca.pem": "oidc-ca.pem", __file__: "oidc-client-secret"}


@pytest.mark.parametrize("bad, message", [
    ({"oidc_issuer": None}, "setting 'oidc_issuer' is needed with hub_auth = 'oidc'"),
    ({"oidc_client_secret_file": None}, "setting 'oidc_client_secret_file' is needed with hub_auth = 'oidc'"),
    ({"oidc_issuer": "http://sso.lab.test"}, "setting 'oidc_issuer' must be an https URL"),
    ({"hub_tls": "off"}, "hub_auth = 'oidc' needs hub_domain and HTTPS"),
    ({"hub_domain": None}, "hub_auth = 'oidc' needs hub_domain and HTTPS"),
    ({"oidc_scopes": ["profile"]}, "setting 'oidc_scopes' must include 'openid'"),
    ({"oidc_client_secret_file": "/nowhere/secret"}, "setting 'oidc_client_secret_file'"),
    ({"oidc_admin_groups": ["a b"]}, "setting 'oidc_admin_groups' item 0: must be a group name"),
])
def test_bad_oidc_settings_are_refused_naming_the_setting_and_host(bad, message):
    with pytest.raises(SettingsError) as refused:
        validate("gpu01", {**default_settings(), **OIDC, **bad})
    assert "gpu01" in str(refused.value) and message in str(refused.value)


@pytest.mark.parametrize("answer, problem", [
    ({"error": "[Errno 111] Connection refused"}, "setting 'oidc_issuer': the provider's discovery document "
     f"{ISSUER}/.well-known/openid-configuration cannot be read from this host: [Errno 111] Connection refused"),
    ({"error": "its certificate does not verify: unable to get local issuer certificate"},
     "cannot be read from this host: its certificate does not verify"),
    ({"document": {**DISCOVERY, "issuer": "https://other.test"}}, "setting 'oidc_issuer': its discovery document "
     "names another issuer ('https://other.test'): set oidc_issuer to exactly that"),
    ({"document": {**DISCOVERY, "token_endpoint": "http://sso.lab.test/token"}},
     "its discovery document has no https token_endpoint"),
    (None, "python3 is needed on this host"),
])
def test_a_provider_the_server_cannot_use_is_refused_before_any_change(answer, problem):
    data = settings(**OIDC)
    assert identity_check(data)[:2] == ("discovery", {"url": f"{ISSUER}/.well-known/openid-configuration"})
    [said] = identity_problems(data, answer)
    assert problem in said
    assert identity_problems(data, {"document": DISCOVERY}) == []


def test_a_directory_the_server_cannot_use_is_refused_before_any_change():
    data = settings(**LDAP, ldap_ca_certificate="lab-ca.pem")
    assert identity_check(data) == ("directory", {"server": "ldap.lab.test", "port": 389, "tls": "starttls"},
                                    "lab-ca.pem")
    [said] = identity_problems(data, {"error": "its certificate does not verify: self-signed certificate"})
    assert said == ("setting 'ldap_server': the directory at ldap.lab.test:389 (starttls) does not answer from this "
                    "host: its certificate does not verify: self-signed certificate")
    assert identity_problems(data, {"ok": True}) == []
    assert identity_check(settings()) is None and identity_problems(settings(), None) == []
