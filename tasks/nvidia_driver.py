"""The NVIDIA driver from the OS archive: Ubuntu's "-server" packages of nvidia_driver_branch
(with Canonical's signed modules where the kernel has them), or Debian 12's non-free driver.

A new driver, or a loaded module that differs from the installed driver ("Driver/library version
mismatch"), needs a reboot: the deploy reboots when nvidia_allow_reboot, else stops and says so.
A host already running the wanted driver is left alone.
"""

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, server

from jhgpu.facts import NvidiaDriverPackage, NvidiaKernelModule
from jhgpu.nvidia import driver_plan, reboot_reason
from jhgpu.operations import apt_install, stop_for_reboot
from jhgpu.platform import release_of

if host.data.gpu_enabled and host.data.nvidia_driver_branch:
    packages = host.get_fact(DebPackages)
    plan = driver_plan(release_of(host), host.data.nvidia_driver_branch, host.data.nvidia_driver_flavour,
                       packages, host.data.debian_mirror_url)
    for line in plan.sources:
        apt.repo(name=f"Enable Debian's non-free components ({line.split()[2]})", src=line,
                 filename="debian-nvidia-driver")
    apt_install(name=f"Install the NVIDIA {plan.branch} driver", packages=list(plan.packages))

    installed = host.get_fact(NvidiaDriverPackage)
    reason = reboot_reason(plan, packages, installed and installed["version"], host.get_fact(NvidiaKernelModule))
    if reason and host.data.nvidia_allow_reboot:
        server.reboot(name=f"Reboot to load the NVIDIA driver ({reason})", delay=10, reboot_timeout=900)
    elif reason:
        stop_for_reboot(name="Stop: the NVIDIA driver needs a reboot", reason=reason)
