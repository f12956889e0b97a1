"""The driver step as far as apt can go without a GPU: deploy.py's preflight, then the driver's
plan and its apt source exactly as tasks/nvidia_driver.py makes them, then `apt-get install
--simulate` of its packages in place of the install (DKMS would build a module for a kernel and
GPU this machine lacks, for minutes). What apt says is left in SIMULATION on the host."""

from pyinfra import host, local
from pyinfra.operations import server

from jhgpu.nvidia import driver_plan_of
from jhgpu.operations.nvidia import debian_driver_source

SIMULATION = "/root/driver-install-simulation.txt"

local.include("tasks/preflight.py")
plan, _ = driver_plan_of(host)
debian_driver_source(plan)
server.shell(name="Simulate the driver's install", commands=[
    f"apt-get update > {SIMULATION} 2>&1 && apt-get install --simulate -y {' '.join(plan.packages)} >> {SIMULATION} 2>&1"
    f" || {{ cat {SIMULATION} >&2; exit 1; }}"])
