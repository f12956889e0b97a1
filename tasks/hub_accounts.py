"""The Hub's declared accounts: hub_admin_users and hub_users, created once, never overwritten.

Initial passwords come from hub_passwords, or are generated and written to hub_passwords_file
on the host (root's, mode 0600). Users change theirs at /hub/change-password. Nobody can sign
up under a declared name (see templates/jupyterhub_config.py.j2); an unauthorized row under one
is replaced.
"""

from pyinfra import host

from jhgpu.auth import NATIVE
from jhgpu.hub import HUB_DATA_DIR, HUB_DB_URL, HUB_HOME, HubNames
from jhgpu.operations.hub import hub_accounts

declared = [*host.data.hub_admin_users, *host.data.hub_users]

if host.data.hub_auth == NATIVE:  # otherwise the directory has the accounts and their passwords
    hub_accounts(
        name=f"Create the Hub's declared accounts ({', '.join(declared) or 'none'})",
        container=HubNames.of(host.data).container, db_url=HUB_DB_URL, accounts=declared,
        passwords=host.data.hub_passwords, passwords_file=host.data.hub_passwords_file,
        data_dir=f"{host.data.jupyterhub_root}/{HUB_DATA_DIR}", hub_data_dir=f"{HUB_HOME}/{HUB_DATA_DIR}",
    )
