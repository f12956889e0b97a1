"""The NVIDIA driver from the OS archive: Ubuntu's "-server" packages of the branch the preflight
chose, in the kernel module flavour it chose (with Canonical's signed modules where the kernel has
them), or Debian's driver from non-free, its -updates and its -security suite.

A new driver, a flavour switch, or a loaded module that differs from the installed driver
("Driver/library version mismatch") needs a reboot: the deploy reboots when nvidia_allow_reboot,
else stops and says so. A host already running its driver is left alone.
"""

from pyinfra import host
from pyinfra.operations import server

from jhgpu.facts.nvidia import NvidiaKernelModule
from jhgpu.nvidia import driver_plan_of, reboot_reason
from jhgpu.operations.apt import apt_install
from jhgpu.operations.nvidia import debian_driver_source
from jhgpu.operations.server import stop_for_reboot

plan, facts = driver_plan_of(host) if host.data.gpu_enabled else (None, None)

if plan:
    debian_driver_source(plan)
    apt_install(name=f"Install the NVIDIA {plan.branch} driver ({plan.modules} kernel modules)",
                packages=list(plan.packages), removed=list(plan.removed))

    installed = facts.driver and facts.driver["version"]
    reason = reboot_reason(plan, facts.installed, installed, host.get_fact(NvidiaKernelModule), facts.loaded_flavour)
    if reason and host.data.nvidia_allow_reboot:
        server.reboot(name=f"Reboot to load the NVIDIA driver ({reason})", delay=10, reboot_timeout=900)
    elif reason:
        stop_for_reboot(name="Stop: the NVIDIA driver needs a reboot", reason=reason)
