"""DockerSpawner (one server) and SwarmSpawner (several), with GPUs of a server's own. Runs in
the Hub; the deploy copies it, and
gpu_allocation.py (jhgpu/gpu_allocation.py, where the decisions and their tests are) beside it.

This file is the I/O: it reads who holds which GPUs from the labels of the containers on the host,
asks gpu_allocation what to give, and creates the container with a device request for exactly
those GPUs and the labels that record them. DockerSpawner >= 13 evaluates extra_host_config and
extra_create_kwargs per spawn, which is what makes this possible (jupyterhub/dockerspawner#500).
"""

import asyncio

import gpu_allocation as allocation
from docker.types import Mount
from dockerspawner import DockerSpawner, SwarmSpawner
from spawner_policies import GroupProfiles, IdleGpus, profile, refusal, started_at
from traitlets import Dict, Int, List, Unicode, default

ALLOCATOR = allocation.Allocator()  # one for the Hub: spawns choose their GPUs one at a time
# For a server without GPUs: the CUDA images ask for all of them (NVIDIA_VISIBLE_DEVICES=all), which
# NVIDIA's runtime grants wherever it is Docker's default runtime (many GPU cloud images, Swarm
# nodes). "void" makes it hand over none.
NO_GPUS_ENV = {"NVIDIA_VISIBLE_DEVICES": "void"}


def allowed_gpus(spawner) -> int:
    """The most GPUs this user's servers may ask for, by their groups."""
    return profile(spawner).max_gpus


def default_request(spawner) -> int:
    return min(spawner.default_gpus, allowed_gpus(spawner))


def gpu_options_form(by_name: bool):
    """The spawn form, made when a user opens it: the images, and the GPUs as they are held now."""
    async def form(spawner):
        images = spawner._get_allowed_images()
        images = images if isinstance(images, dict) else {}
        return allocation.spawn_form(images, spawner.image, spawner.units, await spawner._holdings(),
                                     getattr(spawner, "gpu_allocation", allocation.EXCLUSIVE),
                                     allowed_gpus(spawner), default_request(spawner), by_name=by_name)

    return form


class GpuDockerSpawner(IdleGpus, GroupProfiles, DockerSpawner):
    gpus = List(Dict(), config=True, help="The host's GPUs the Hub hands out: [{'uuid', 'name'}]")
    gpu_allocation = Unicode(allocation.EXCLUSIVE, config=True, help="'exclusive' or 'shared'")
    max_gpus_per_user = Int(1, config=True, help="The most GPUs one server may ask for")
    default_gpus = Int(1, config=True, help="GPUs for a server started without choosing")

    gpu_uuids = None  # the GPUs this start got; None until chosen

    @property
    def gpu_note(self):
        """What this start got, in words; None until chosen."""
        return None if self.gpu_uuids is None else allocation.described(self.units, self.gpu_uuids)

    @property
    def units(self):
        return [allocation.Gpu.of(entry) for entry in self.gpus]

    async def _holdings(self):
        containers = await self.docker("containers", all=True, filters={"label": allocation.GPUS_LABEL})
        return allocation.holdings([container.get("Labels") or {} for container in containers])

    @default("options_form")
    def _gpu_options_form(self):
        return gpu_options_form(by_name=True)

    @default("options_from_form")
    def _gpu_options_from_form(self):
        def options_from_form(formdata, spawner):
            options = allocation.options_from_form(formdata)
            if "gpus" in options:  # a bad value is said above the form again
                allocation.requested(options["gpus"], spawner.units, allowed_gpus(spawner))
            return options

        return options_from_form

    async def create_object(self):
        try:
            request = allocation.requested(self.user_options.get("gpus", default_request(self)), self.units,
                                           allowed_gpus(self))
        except ValueError as error:
            raise refusal(400, str(error)) from None
        holder = allocation.holder_name(self.user.name, self.name)

        async def create(uuids):
            self.gpu_uuids = list(uuids)
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
        if self.gpu_uuids == []:  # with GPUs, Docker's device request sets the variable
            env.update(NO_GPUS_ENV)
        return env

    async def start(self):
        self.gpu_uuids = None
        self._apply_profile()
        return await super().start()

    async def _started_at(self):
        container = await self.get_object()
        return started_at(((container or {}).get("State") or {}).get("StartedAt"))

    async def _held_gpus(self):
        """The GPUs this server holds (its container's label: known after a Hub restart too)."""
        if self.gpu_uuids is not None:
            return list(self.gpu_uuids)
        container = await self.get_object()
        labels = ((container or {}).get("Config") or {}).get("Labels") or {}
        return [uuid for uuid in labels.get(allocation.GPUS_LABEL, "").split(",") if uuid]

    async def progress(self):
        # The GPUs are chosen a moment into the start; say which, once they are.
        for _ in range(600):
            if self.gpu_note is not None:
                yield {"progress": 60, "message": f"GPUs for this server: {self.gpu_note}"}
                return
            await asyncio.sleep(0.1)


class GpuSwarmSpawner(IdleGpus, GroupProfiles, SwarmSpawner):
    """SwarmSpawner, for a Hub whose users' servers run on several GPU servers (a Swarm): each
    server is a service reserving a count of the nodes' `gpu` generic resources, and Swarm places
    it on a node with that many free, handing the task their UUIDs (DOCKER_RESOURCE_GPU). The
    spawn form, the limits and the "none free" message are the single server's."""

    gpus = List(Dict(), config=True, help="Every node's GPUs: [{'uuid', 'name'}], names starting with the node's")
    max_gpus_per_user = Int(1, config=True, help="The most GPUs one server may ask for")
    default_gpus = Int(1, config=True, help="GPUs for a server started without choosing")
    registry = Unicode(config=True, help="The Swarm's registry (host:port): services run images by its digest")
    shm_size = Unicode("64m", config=True, help="The size of /dev/shm in each server")
    start_timeout_pending = Int(30, config=True, help="Seconds a service may wait for a node before it is refused")

    gpu_note = None
    units = GpuDockerSpawner.units

    async def _holdings(self):
        """Who holds which GPUs: the UUIDs Swarm assigned each running server's task."""
        labels = []
        for service in await self.docker("services", filters={"label": allocation.HOLDER_LABEL}):
            tasks = await self.docker("tasks", filters={"service": service["ID"], "desired-state": "running"})
            labels.append(allocation.swarm_holder_labels(service["Spec"]["Labels"], tasks))
        return allocation.holdings(labels)

    @default("options_form")
    def _gpu_options_form(self):
        return gpu_options_form(by_name=False)  # Swarm picks the GPUs

    @default("options_from_form")
    def _gpu_options_from_form(self):
        return lambda formdata, spawner: allocation.options_from_form(formdata)

    async def _registry_image(self):
        """The image users chose, as the registry has it (by digest): what every node pulls."""
        image = await self.docker("inspect_image", self.image)
        for digest in image.get("RepoDigests") or []:
            if digest.startswith(f"{self.registry}/"):
                return digest
        raise refusal(503, f"The image {self.image} is not in the Swarm's registry yet: ask an admin to rerun the deploy.")

    async def create_object(self):
        request = self.user_options.get("gpus", default_request(self))
        try:
            request = allocation.requested(request, self.units, allowed_gpus(self))
        except ValueError as error:
            raise refusal(400, str(error)) from None
        if isinstance(request, str):
            raise refusal(400, "On this Hub the Swarm picks your GPUs: ask for a number of them.")
        holder = allocation.holder_name(self.user.name, self.name)

        async def create(_uuids):  # the allocator's choice is only a check: Swarm picks the GPUs
            configured = (self.image, self.extra_resources_spec, self.extra_create_kwargs)
            self.requested_gpus = request
            self.image = await self._registry_image()
            if request:
                self.extra_resources_spec = {**self.extra_resources_spec, "generic_resources": {"gpu": request}}
            self.extra_create_kwargs = {**self.extra_create_kwargs,
                                        "labels": {**self.extra_create_kwargs.get("labels", {}),
                                                   allocation.HOLDER_LABEL: holder}}
            try:
                return await super(GpuSwarmSpawner, self).create_object()
            finally:
                self.image, self.extra_resources_spec, self.extra_create_kwargs = configured

        try:  # said here, at once, rather than by a service that waits for a node
            _, created = await ALLOCATOR.allocate(self.units, request, allocation.EXCLUSIVE, self._holdings, create)
        except allocation.NoGpuFree as error:
            raise refusal(409, str(error)) from None
        return created

    @property
    def mounts(self):
        return [*super().mounts, Mount("/dev/shm", None, type="tmpfs", tmpfs_size=self.shm_size)]

    def get_env(self):
        env = super().get_env()
        if not getattr(self, "requested_gpus", 0):
            env.update(NO_GPUS_ENV)
        return env

    async def _refuse_if_no_room(self, status: dict, waited: float):
        """Swarm says at once when no node has the GPUs: refused then, naming who holds them,
        unless the holdings show one free (a stopped server's task still releasing it: Swarm
        places this one a moment later). Pending for another reason gets a while, less than the
        Hub's own start_timeout, so that the user reads why."""
        try:
            allocation.assign(self.units, await self._holdings(), getattr(self, "requested_gpus", 0),
                              allocation.EXCLUSIVE)
        except allocation.NoGpuFree as error:
            await self.remove_object()
            raise refusal(409, str(error)) from None
        if waited > self.start_timeout_pending:
            await self.remove_object()
            raise refusal(409, f"No node could start your server: {status.get('Err') or 'no node has room'}.")

    async def start_object(self):
        """Until Swarm runs the task; a task no node can place (two spawns raced for the last
        GPU) is removed and refused with the same message as the form's."""
        waited = 0.0
        while True:
            task = await self.get_task()
            if not task:
                raise RuntimeError(f"Service {self.service_name} not found")
            status = task["Status"]
            if status["State"] == "running":
                break
            if status["State"] in ("failed", "rejected", "shutdown", "complete"):
                raise RuntimeError(f"Service {self.service_name} did not start: {status.get('Err') or status}")
            if status["State"] == "pending":
                await self._refuse_if_no_room(status, waited)
            await asyncio.sleep(1)
            waited += 1
        uuids = tuple(allocation.assigned_gpus(task))
        self.gpu_note = allocation.described(self.units, uuids)
        self.log.info("Server %s got %s", self.service_name, self.gpu_note)

    async def get_ip_and_port(self):
        """The task's own address on the Hub's network. Not the service's name: a service made
        anew under the same name (a user's next server) was not found by it for half a minute."""
        task = await self.get_task()
        for attachment in (task or {}).get("NetworksAttachments") or []:
            if attachment["Network"]["Spec"]["Name"] == self.network_name and attachment.get("Addresses"):
                return attachment["Addresses"][0].split("/")[0], self.port
        return await super().get_ip_and_port()

    async def start(self):
        self.gpu_note = None
        self._apply_profile()
        return await super().start()

    async def _started_at(self):
        task = await self.get_task()
        return started_at(((task or {}).get("Status") or {}).get("Timestamp")) if task else None

    async def _held_gpus(self):
        task = await self.get_task()
        return allocation.assigned_gpus(task) if task else []

    progress = GpuDockerSpawner.progress
