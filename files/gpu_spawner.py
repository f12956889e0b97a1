"""DockerSpawner, with GPUs of a server's own. Runs in the Hub; the deploy copies it, and
gpu_allocation.py (jhgpu/gpu_allocation.py, where the decisions and their tests are) beside it.

This file is the I/O: it reads who holds which GPUs from the labels of the containers on the host,
asks gpu_allocation what to give, and creates the container with a device request for exactly
those GPUs and the labels that record them. DockerSpawner >= 13 evaluates extra_host_config and
extra_create_kwargs per spawn, which is what makes this possible (jupyterhub/dockerspawner#500).
"""

import asyncio

import gpu_allocation as allocation
from dockerspawner import DockerSpawner
from tornado import web
from traitlets import Dict, Int, List, Unicode, default

ALLOCATOR = allocation.Allocator()  # one for the Hub: spawns choose their GPUs one at a time


def refusal(status: int, message: str) -> web.HTTPError:
    """An error JupyterHub relays as it is: above the spawn form, and in its REST API's answer."""
    error = web.HTTPError(status, "%s", message)
    error.jupyterhub_message = message
    return error


class GpuDockerSpawner(DockerSpawner):
    gpus = List(Dict(), config=True, help="The host's GPUs the Hub hands out: [{'uuid', 'name'}]")
    gpu_allocation = Unicode(allocation.EXCLUSIVE, config=True, help="'exclusive' or 'shared'")
    max_gpus_per_user = Int(1, config=True, help="The most GPUs one server may ask for")
    default_gpus = Int(1, config=True, help="GPUs for a server started without choosing")

    gpu_note = None  # what this start got, in words; None until chosen

    @property
    def units(self):
        return [allocation.Gpu.of(entry) for entry in self.gpus]

    async def _holdings(self):
        containers = await self.docker("containers", all=True, filters={"label": allocation.GPUS_LABEL})
        return allocation.holdings([container.get("Labels") or {} for container in containers])

    @default("options_form")
    def _gpu_options_form(self):
        async def form(spawner):
            images = spawner._get_allowed_images()
            images = images if isinstance(images, dict) else {}
            return allocation.spawn_form(images, spawner.image, spawner.units, await spawner._holdings(),
                                         spawner.gpu_allocation, spawner.max_gpus_per_user, spawner.default_gpus)

        return form

    @default("options_from_form")
    def _gpu_options_from_form(self):
        def options_from_form(formdata, spawner):
            options = allocation.options_from_form(formdata)
            if "gpus" in options:  # a bad value is said above the form again
                allocation.requested(options["gpus"], spawner.units, spawner.max_gpus_per_user)
            return options

        return options_from_form

    async def create_object(self):
        try:
            request = allocation.requested(self.user_options.get("gpus", self.default_gpus), self.units,
                                           self.max_gpus_per_user)
        except ValueError as error:
            raise refusal(400, str(error)) from None
        holder = allocation.holder_name(self.user.name, self.name)

        async def create(uuids):
            self.gpu_note = allocation.described(self.units, uuids)
            configured_host, configured_create = self.extra_host_config, self.extra_create_kwargs
            self.extra_host_config = {**configured_host, "device_requests": allocation.device_requests(uuids)}
            labels = {**configured_create.get("labels", {}), **allocation.holder_labels(holder, uuids)}
            self.extra_create_kwargs = {**configured_create, "labels": labels}
            try:
                return await super(GpuDockerSpawner, self).create_object()
            finally:
                self.extra_host_config, self.extra_create_kwargs = configured_host, configured_create

        try:
            uuids, created = await ALLOCATOR.allocate(self.units, request, self.gpu_allocation, self._holdings, create)
        except allocation.NoGpuFree as error:
            raise refusal(409, str(error)) from None
        self.log.info("Server %s got %s", holder, self.gpu_note)
        return created

    def get_env(self):
        env = super().get_env()
        if self.gpu_note is not None:
            env[allocation.ENV_VAR] = self.gpu_note
        return env

    async def start(self):
        self.gpu_note = None
        return await super().start()

    async def progress(self):
        # The GPUs are chosen a moment into the start; say which, once they are.
        for _ in range(600):
            if self.gpu_note is not None:
                yield {"progress": 60, "message": f"GPUs for this server: {self.gpu_note}"}
                return
            await asyncio.sleep(0.1)
