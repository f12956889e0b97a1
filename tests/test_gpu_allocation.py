"""The GPU allocator (jhgpu/gpu_allocation.py), pure and fast: the same file the Hub runs."""

import asyncio
import html
from pathlib import Path

import pytest

from jhgpu import gpu_allocation as allocation
from jhgpu.facts.nvidia import NvidiaGpus
from jhgpu.gpu_allocation import EXCLUSIVE, SHARED, Gpu, NoGpuFree, assign

SAMPLES = Path(__file__).parent / "fixtures" / "nvidia"
FOUR = [Gpu(uuid=f"GPU-{n}", name=f"GPU {n}: NVIDIA A100-SXM4-80GB, 80 GiB") for n in range(4)]


def run(coroutine):
    """A fresh event loop for `coroutine`. Playwright (the browser tests, same session) keeps a
    loop marked running in this thread, and gevent's patched threads share it: that mark is set
    aside meanwhile."""
    running = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        return asyncio.run(coroutine)
    finally:
        asyncio.events._set_running_loop(running)


def units_of(sample: str) -> list[Gpu]:
    facts = NvidiaGpus().process((SAMPLES / sample).read_text().splitlines())
    return [Gpu.of(entry) for entry in allocation.allocatable_gpus(facts)]


# --- the host's GPUs as units -------------------------------------------------------------------

def test_a_gpu_is_one_unit_named_with_its_memory():
    assert units_of("nvidia-smi-h200.txt") == [
        Gpu(uuid="GPU-f099d46c-2412-5391-f791-126211e3e659", name="GPU 0: NVIDIA H200, 140 GiB")]


def test_a_gpu_in_mig_mode_is_handed_out_as_its_instances():
    units = units_of("nvidia-smi-2x-a100-mig.txt")
    assert [unit.uuid for unit in units] == [
        "MIG-a686709d-6dc2-542a-8851-0d2508448c10", "MIG-53864714-0a66-5df2-9007-9268e30d9a72",
        "MIG-d5a46a2e-1d77-575d-99e3-1f96c8555a2e", "MIG-b8479d6e-d08f-5a92-9a24-0946db72b2a0"]
    assert units[3].name == "GPU 1 MIG 1g.10gb (instance 1): NVIDIA A100-SXM4-80GB"
    # Each instance is a GPU of its own: two users on one card, neither sharing an instance.
    first = assign(units, {}, 1, EXCLUSIVE)
    assert assign(units, {"alice": first}, 1, EXCLUSIVE) == ("MIG-53864714-0a66-5df2-9007-9268e30d9a72",)


def test_no_driver_yet_means_no_gpu_to_hand_out():
    assert allocation.allocatable_gpus(None) == []
    with pytest.raises(NoGpuFree, match="This server has no GPU the Hub knows of"):
        assign([], {}, 1, EXCLUSIVE)


# --- exclusive ----------------------------------------------------------------------------------

def test_free_gpus_are_given_in_host_order_and_busy_ones_never():
    assert assign(FOUR, {}, 1, EXCLUSIVE) == ("GPU-0",)
    held = {"alice": ("GPU-0",), "bob": ("GPU-2",)}
    assert assign(FOUR, held, 1, EXCLUSIVE) == ("GPU-1",)
    assert assign(FOUR, held, 2, EXCLUSIVE) == ("GPU-1", "GPU-3")


def test_a_cpu_only_server_gets_no_gpu_even_when_none_is_free():
    held = {f"user{n}": (gpu.uuid,) for n, gpu in enumerate(FOUR)}
    assert assign(FOUR, held, 0, EXCLUSIVE) == ()
    assert allocation.device_requests(()) == []


def test_none_free_names_who_holds_which_gpu_and_offers_a_cpu_only_server():
    held = {"alice": ("GPU-0", "GPU-1"), "bob": ("GPU-2",), "carol": ("GPU-3",)}
    with pytest.raises(NoGpuFree) as refused:
        assign(FOUR, held, 1, EXCLUSIVE)
    message = str(refused.value)
    assert message.startswith("No GPU is free.")
    assert "GPU 0: NVIDIA A100-SXM4-80GB, 80 GiB is held by alice" in message
    assert "GPU 2: NVIDIA A100-SXM4-80GB, 80 GiB is held by bob" in message
    assert 'Start a CPU-only server instead (choose "No GPU")' in message


def test_asking_for_more_than_are_free_says_how_many_are():
    with pytest.raises(NoGpuFree, match="Only 1 GPU is free, and you asked for 2"):
        assign(FOUR, {"alice": ("GPU-0", "GPU-1", "GPU-2")}, 2, EXCLUSIVE)


def test_a_gpu_chosen_by_name_is_given_only_while_free():
    assert assign(FOUR, {"alice": ("GPU-0",)}, "GPU-3", EXCLUSIVE) == ("GPU-3",)
    with pytest.raises(NoGpuFree, match="GPU 0: NVIDIA A100-SXM4-80GB, 80 GiB is not free any more"):
        assign(FOUR, {"alice": ("GPU-0",)}, "GPU-0", EXCLUSIVE)


def test_a_gpu_gone_from_the_host_is_neither_given_nor_counted():
    # A container from before a GPU was removed still names it; the rest are judged as usual.
    assert assign(FOUR[:2], {"alice": ("GPU-3",)}, 2, EXCLUSIVE) == ("GPU-0", "GPU-1")


# --- shared -------------------------------------------------------------------------------------

def test_shared_servers_spread_over_the_least_loaded_gpus():
    held = {"alice": ("GPU-0",), "bob": ("GPU-0", "GPU-1"), "carol": ("GPU-2",)}
    assert assign(FOUR, held, 1, SHARED) == ("GPU-3",)  # held by nobody
    assert assign(FOUR, held, 2, SHARED) == ("GPU-1", "GPU-3")  # GPU-1 and GPU-2 tie: host order
    assert assign(FOUR, {**held, "dave": ("GPU-3",)}, 1, SHARED) == ("GPU-1",)
    # A busy GPU by name is fine when shared.
    assert assign(FOUR, held, "GPU-0", SHARED) == ("GPU-0",)


# --- holdings live on the containers: restarts ---------------------------------------------------

def test_holdings_are_read_back_from_container_labels():
    containers = [allocation.holder_labels("alice", ("GPU-0", "GPU-1")),
                  allocation.holder_labels("bob/training", ("GPU-3",)),
                  allocation.holder_labels("carol", ()),  # a CPU-only server
                  {"com.docker.compose.project": "jupyterhub"}]  # not a user's server
    assert allocation.holdings(containers) == {"alice": ("GPU-0", "GPU-1"), "bob/training": ("GPU-3",)}


def test_a_restarted_hub_gives_no_gpu_its_containers_still_hold():
    # What a Hub knows after a restart is what Docker reports: a fresh allocator, the old labels.
    before = allocation.Allocator()
    containers = []

    async def spawn(allocator, holder):
        async def read():
            return allocation.holdings(containers)

        async def create(uuids):
            containers.append(allocation.holder_labels(holder, uuids))

        return (await allocator.allocate(FOUR, 1, EXCLUSIVE, read, create))[0]

    assert run(spawn(before, "alice")) == ("GPU-0",)
    after = allocation.Allocator()  # the new Hub
    assert run(spawn(after, "bob")) == ("GPU-1",)
    containers.pop(0)  # alice's server stops: DockerSpawner removes its container
    assert run(spawn(after, "carol")) == ("GPU-0",)


# --- concurrent spawns ---------------------------------------------------------------------------

def concurrent_spawns(allocator, users: int) -> tuple[list, list]:
    """`users` spawns at once; reading Docker and creating a container each take a while."""
    containers, granted, refused = [], [], []

    async def spawn(holder):
        async def read():
            await asyncio.sleep(0.001)
            return allocation.holdings(containers)

        async def create(uuids):
            await asyncio.sleep(0.001)
            containers.append(allocation.holder_labels(holder, uuids))

        try:
            granted.append((await allocator.allocate(FOUR, 1, EXCLUSIVE, read, create))[0])
        except NoGpuFree:
            refused.append(holder)

    async def everyone():
        await asyncio.gather(*(spawn(f"user{n}") for n in range(users)))

    run(everyone())
    return granted, refused


def test_concurrent_spawns_never_get_the_same_gpu():
    granted, refused = concurrent_spawns(allocation.Allocator(), users=10)
    assert sorted(granted) == [("GPU-0",), ("GPU-1",), ("GPU-2",), ("GPU-3",)]
    assert len(refused) == 6


def test_without_the_lock_concurrent_spawns_would_collide():
    # What the lock prevents: every spawn reads the holdings before any container exists.
    class Unlocked(allocation.Allocator):
        async def allocate(self, gpus, request, mode, read_holdings, create):
            uuids = assign(gpus, await read_holdings(), request, mode)
            return uuids, await create(uuids)

    granted, _ = concurrent_spawns(Unlocked(), users=10)
    assert len(granted) > len(set(granted))


# --- what users ask for, and the form ------------------------------------------------------------

def test_requests_are_counts_within_the_limit_or_a_gpu_of_this_host():
    assert allocation.requested("2", FOUR, 2) == 2
    assert allocation.requested(0, FOUR, 2) == 0
    assert allocation.requested("GPU-3", FOUR, 1) == "GPU-3"
    with pytest.raises(ValueError, match="You can ask for 0 to 2 GPUs, not 3"):
        allocation.requested("3", FOUR, 2)
    with pytest.raises(ValueError, match="There is no GPU 'GPU-9' on this server"):
        allocation.requested("GPU-9", FOUR, 2)
    with pytest.raises(ValueError):
        allocation.requested(True, FOUR, 2)


def test_the_form_offers_counts_and_the_free_gpus_by_name():
    form = allocation.spawn_form({"Python": "scipy", "PyTorch": "pytorch"}, "pytorch", FOUR,
                                 {"alice": ("GPU-1",)}, EXCLUSIVE, 2, 1)
    assert '<option value="PyTorch" selected>' in form
    assert '<option value="0">No GPU (CPU only)</option>' in form
    assert '<option value="1" selected>1 GPU, chosen for you</option>' in form
    assert '<option value="2">2 GPUs, chosen for you</option>' in form
    named = form.split('<optgroup label="A free GPU by name">')[1]
    assert "GPU-0" in named and "GPU-2" in named and "GPU-1" not in named
    assert "3 of 4 GPUs are free now" in form


def test_in_a_swarm_the_form_offers_counts_only():
    form = allocation.spawn_form({}, "scipy", FOUR, {"alice": ("GPU-1",)}, EXCLUSIVE, 2, 1, by_name=False)
    assert '<option value="2">2 GPUs, chosen for you</option>' in form
    assert "optgroup" not in form and 'value="GPU-0"' not in form


def test_the_form_escapes_names_and_leaves_gpus_out_on_a_cpu_only_hub():
    evil = [Gpu(uuid="GPU-x", name='<script>alert("x")</script>')]
    form = allocation.spawn_form({}, "scipy", evil, {}, SHARED, 1, 1)
    assert "<script>" not in form and html.escape('<script>alert("x")</script>') in form
    assert allocation.spawn_form({"A": "a", "B": "b"}, "a", [], {}, EXCLUSIVE, 1, 0).count("<select") == 1
    assert allocation.options_from_form({"image": ["B"], "gpus": ["GPU-x"], "other": ["?"]}) == {
        "image": "B", "gpus": "GPU-x"}


def test_a_server_is_told_which_gpus_it_got():
    assert allocation.described(FOUR, ("GPU-2",)) == "GPU 2: NVIDIA A100-SXM4-80GB, 80 GiB (GPU-2)"
    assert allocation.described(FOUR, ()) == "no GPU (a CPU-only server)"
    assert allocation.device_requests(("GPU-2", "GPU-3")) == [
        {"device_ids": ["GPU-2", "GPU-3"], "capabilities": [["gpu"]]}]


# --- group profiles: the most GPUs a user's groups allow ------------------------------------------

def test_a_user_allowed_no_gpu_is_offered_none_and_refused_any():
    form = allocation.spawn_form({}, "scipy", FOUR, {}, EXCLUSIVE, 0, 0)
    assert '<option value="0" selected>No GPU (CPU only)</option>' in form
    assert "GPU, chosen for you" not in form and 'value="GPU-0"' not in form
    for asked in (1, "1", "GPU-0"):
        with pytest.raises(ValueError, match="Your groups allow you no GPU"):
            allocation.requested(asked, FOUR, 0)
    assert allocation.requested(0, FOUR, 0) == 0
    form = allocation.spawn_form({}, "scipy", FOUR, {}, EXCLUSIVE, 2, 1)
    assert '<option value="2">2 GPUs, chosen for you</option>' in form and 'value="3"' not in form
    with pytest.raises(ValueError, match="You can ask for 0 to 2 GPUs, not 3"):
        allocation.requested(3, FOUR, 2)


def test_a_swarm_servers_holdings_are_the_gpus_swarm_assigned_its_running_tasks():
    """As `docker inspect` shows a task's generic resources (a count of another kind is not a GPU)."""
    task = {"GenericResources": [{"NamedResourceSpec": {"Kind": "gpu", "Value": "GPU-1"}},
                                 {"DiscreteResourceSpec": {"Kind": "fpga", "Value": 1}}]}
    labels = allocation.swarm_holder_labels({allocation.HOLDER_LABEL: "alice"}, [task, {"GenericResources": None}])
    assert labels == allocation.holder_labels("alice", ("GPU-1",))
    assert allocation.holdings([labels]) == {"alice": ("GPU-1",)}
