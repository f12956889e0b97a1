"""Logins from the lab's LDAP directory, with its groups (hub_auth = "ldap"; jhgpu/auth.py).

jupyterhub-ldapauthenticator binds as the person (their password checks itself) and can test
membership of listed group DNs; this adds what the Hub needs from groups: every group under
`group_search_base` that lists the person (by DN in member/uniqueMember, or by name in
memberUid) becomes one of their Hub groups, by cn, at each login (JupyterHub's manage_groups);
`allowed_groups` and `admin_groups` are such names.
"""

from ldap3 import SUBTREE
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn
from ldapauthenticator import LDAPAuthenticator
from traitlets import List, Unicode


class DirectoryAuthenticator(LDAPAuthenticator):
    group_search_base = Unicode("", config=True, help="Where the directory's groups are; empty: no groups.")
    allowed_group_names = List(Unicode(), config=True, help="Groups (cn) whose members may log in; empty: anyone.")
    admin_group_names = List(Unicode(), config=True, help="Groups (cn) whose members are admins.")

    def _user_dn(self, username: str) -> str | None:
        if self.lookup_dn:
            return self.resolve_username(username)[1]
        return self.bind_dn_template[0].format(username=escape_rdn(username))

    def _groups(self, username: str, password: str) -> list[str]:
        if not self.group_search_base:
            return []
        userdn = self._user_dn(username)
        connection = self.get_connection(userdn, password) if userdn else None
        if connection is None:
            return []
        member = escape_filter_chars(userdn)
        connection.search(search_base=self.group_search_base, search_scope=SUBTREE, attributes=["cn"],
                          search_filter=f"(|(member={member})(uniqueMember={member})"
                                        f"(memberUid={escape_filter_chars(username)}))")
        return sorted({str(entry.cn.values[0]) for entry in connection.entries if entry.cn.values})

    async def authenticate(self, handler, data):
        try:
            model = await super().authenticate(handler, data)
            if model is None:
                return None
            groups = self._groups(data["username"], data["password"])
        except LDAPException as error:  # the directory unreachable, its certificate refused...
            self.log.error("The directory %s:%s refused or failed the login of %s: %s", self.server_address,
                           self.server_port, data.get("username"), error)
            return None
        if self.allowed_group_names and not set(groups) & set(self.allowed_group_names):
            self.log.warning("%s is in none of the groups allowed to log in (%s)", model["name"],
                             ", ".join(self.allowed_group_names))
            return None
        model["groups"] = groups
        # Decided at every login, so leaving an admin group ends admin rights at the next one.
        model["admin"] = bool(set(groups) & set(self.admin_group_names)) or model["name"] in self.admin_users
        return model

    async def check_allowed(self, username, auth_model):
        return True  # authenticate refused whoever is not allowed (bound, and in an allowed group)
