"""The NVIDIA driver from the OS archive: Ubuntu's "-server" packages of the branch the preflight
chose (with Canonical's signed modules where the kernel has them), or Debian's non-free driver.

A new driver, or a loaded module that differs from the installed driver ("Driver/library version
mismatch"), needs a reboot: the deploy reboots when nvidia_allow_reboot, else stops and says so.
A host already running its driver is left alone.
"""

from pyinfra import host
from pyinfra.operations import server

from jhgpu.facts.nvidia import NvidiaKernelModule
from jhgpu.nvidia import driver_plan, gpu_plan_of, host_driver_facts, reboot_reason
from jhgpu.operations.apt import apt_install, signed_apt_source
from jhgpu.operations.server import stop_for_reboot
from jhgpu.platform import release_of

release = release_of(host)
facts = host_driver_facts(host) if host.data.gpu_enabled else None
branch = gpu_plan_of(host, release, facts).branch if facts else None

if branch:
    candidates, packages, installed = facts
    plan = driver_plan(release, branch, host.data.nvidia_driver_flavour, packages, candidates,
                       host.data.debian_mirror_url)
    if plan.sources:
        signed_apt_source(name="Enable Debian's non-free components", source="debian-nvidia-driver",
                          lines=list(plan.sources))
    apt_install(name=f"Install the NVIDIA {plan.branch} driver", packages=list(plan.packages))

    reason = reboot_reason(plan, packages, installed and installed["version"], host.get_fact(NvidiaKernelModule))
    if reason and host.data.nvidia_allow_reboot:
        server.reboot(name=f"Reboot to load the NVIDIA driver ({reason})", delay=10, reboot_timeout=900)
    elif reason:
        stop_for_reboot(name="Stop: the NVIDIA driver needs a reboot", reason=reason)
