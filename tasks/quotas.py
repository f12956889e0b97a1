"""Storage limits per user (user_storage_quota), as jhgpu/quotas.py plans them: the quota tools,
the script that gives each user's folder its project quota, and the path unit that runs it when a
new folder appears. The preflight has already refused a filesystem without project quotas."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server, systemd

from jhgpu.facts.server import FilesystemOf
from jhgpu.hub import render
from jhgpu.operations.apt import apt_install
from jhgpu.quotas import SCRIPT, UNIT, quota_plan, unit_files

plan = quota_plan(host.data, host.get_fact(FilesystemOf, path=host.data.users_home_root)) \
    if host.data.user_storage_quota else None
if plan:
    apt_install(name="Install the quota tools", packages=list(plan.packages))
    script = files.put(name=f"Write {SCRIPT}", src=StringIO(render("jupyterhub-quotas.sh.j2", {"plan": plan})),
                       dest=SCRIPT, user="root", group="root", mode="700")
    units = [files.put(name=f"Write {name}", src=StringIO(text), dest=f"/etc/systemd/system/{name}", mode="644")
             for name, text in unit_files(plan).items()]
    systemd.service(name=f"Watch for new users' folders ({UNIT}.path)", service=f"{UNIT}.path", running=True,
                    enabled=True, daemon_reload=any(op.will_change for op in units))
    server.shell(name="Give every user's folder its storage limit", commands=[SCRIPT],
                 _if=lambda: script.did_change() or any(op.did_change() for op in units))
