"""What the Hub's spawners (files/gpu_spawner.py) enforce beyond GPUs: the user's group profile
(images, memory, CPUs, the longest run; decided by group_profiles.py) and the reclaiming of GPUs
left idle (gpu_idle_timeout; decided by gpu_usage.py from the usage files the GPU nodes' samplers
keep). Runs in the Hub; the deploy copies it beside the spawner.
"""

import time
from datetime import datetime, timezone
from pathlib import Path

import gpu_usage
import group_profiles
from tornado import web
from traitlets import Bool, Dict, Float, HasTraits, List, Unicode


def refusal(status: int, message: str) -> web.HTTPError:
    """An error JupyterHub relays as it is: above the spawn form, and in its REST API's answer."""
    error = web.HTTPError(status, "%s", message)
    error.jupyterhub_message = message
    return error


def profile(spawner) -> group_profiles.Profile:
    """What this user's groups allow their servers now (group_profiles)."""
    return group_profiles.profile_of(spawner.group_profiles, [group.name for group in spawner.user.groups],
                                     max_gpus=spawner.max_gpus_per_user, mem_limit=spawner.default_mem_limit,
                                     cpu_limit=spawner.default_cpu_limit)


GROUP_PROFILES_HELP = ("{group: {'max_gpus', 'images', 'mem_limit', 'cpu_limit', 'max_hours'}}: what its members' "
                       "servers may have (group_profiles.py); empty: the defaults for everyone")


class GroupProfiles(HasTraits):
    """What both spawners take from the user's groups: the images offered and allowed, the
    memory and CPU limits, and the longest run (enforced at the Hub's poll of each server, every
    30 seconds, from the time the container or task started, so a Hub restart changes nothing)."""

    group_profiles = Dict(config=True, help=GROUP_PROFILES_HELP)
    default_mem_limit = Unicode(None, allow_none=True, config=True, help="Memory limit outside any profile")
    default_cpu_limit = Float(None, allow_none=True, config=True, help="CPU limit outside any profile")

    def _get_allowed_images(self):
        return profile(self).offered(super()._get_allowed_images())

    def _apply_profile(self):
        """Before a start: the limits of the user's groups, and an image they may run."""
        allowed, mine = self._get_allowed_images(), profile(self)
        if not allowed:
            raise refusal(403, "Your groups allow you no image: ask an admin.")
        if not self.user_options.get("image") and self.image not in allowed.values():
            self.image = next(iter(allowed.values()))  # the first the user's groups allow
        self.mem_limit, self.cpu_limit = mine.mem_limit, mine.cpu_limit

    async def _started_at(self):
        """When the server's container (or task) started; None if unknown."""
        raise NotImplementedError

    async def poll(self):
        status = await super().poll()
        if status is not None:
            return status
        limit = profile(self).max_hours
        started = await self._started_at() if limit is not None else None
        if started and group_profiles.over_time((datetime.now(timezone.utc) - started).total_seconds(), limit):
            self.log.info("Stopping %s's server: it ran longer than the %s hours their groups allow",
                          self.user.name, limit)
            await self.stop()
            return 0
        return None


def started_at(timestamp: str | None):
    """Docker's "2026-11-30T16:00:00.123456789Z" as a datetime (nanoseconds dropped)."""
    if not timestamp or timestamp.startswith("0001-"):
        return None
    return datetime.fromisoformat(timestamp[:19]).replace(tzinfo=timezone.utc)



def usage_in(folder: str, now: float) -> dict:
    """Every GPU node's usage, from the files their samplers keep in `folder` (<node>.json)."""
    texts = {}
    for path in Path(folder).glob("*.json"):
        try:
            texts[path.stem] = path.read_text()
        except OSError:
            continue
    return gpu_usage.read_usages(texts, now)


# What the Hub's home page tells each user whose GPUs sit idle ({name: text}); in memory: a Hub
# restart forgets a warning, and the user is warned again before any stop.
NOTICES: dict[str, str] = {}


def idle_notice(user) -> str:
    """c.JupyterHub.template_vars' announcement_home: the user's warning, if any."""
    return NOTICES.get(getattr(user, "name", ""), "")


class IdleGpus(HasTraits):
    """Stops a server whose GPUs all read 0 % for gpu_idle_timeout seconds, gpu_idle_grace
    seconds after telling its user on the Hub's home page; its files stay. Checked at the Hub's
    poll of each server (every 30 seconds), from the GPU nodes' usage files."""

    gpu_idle_timeout = Float(None, allow_none=True, config=True, help="Seconds of idle GPUs before a warning; None: never")
    gpu_idle_grace = Float(1800, config=True, help="Seconds from the warning to the stop")
    gpu_idle_exempt_groups = List(Unicode(), config=True, help="Groups whose members' servers are never reclaimed")
    gpu_idle_exempt_admins = Bool(False, config=True, help="Admins' servers are never reclaimed")
    gpu_usage_dir = Unicode(config=True, help="The folder of the GPU nodes' usage files, as the Hub sees it")

    warned_at = None

    async def _held_gpus(self) -> list:
        raise NotImplementedError

    async def poll(self):
        status = await super().poll()
        if status is not None or not self.gpu_idle_timeout:
            return status
        if {group.name for group in self.user.groups} & set(self.gpu_idle_exempt_groups):
            return None
        if self.gpu_idle_exempt_admins and self.user.admin:
            return None
        now = time.time()
        verdict, since = gpu_usage.idle_verdict(await self._held_gpus(), usage_in(self.gpu_usage_dir, now), now,
                                                self.gpu_idle_timeout, self.gpu_idle_grace, self.warned_at)
        if verdict == gpu_usage.BUSY:
            self.warned_at = None
            NOTICES.pop(self.user.name, None)
        elif verdict == gpu_usage.WARN:
            self.warned_at = now
            stop_at = datetime.fromtimestamp(now + self.gpu_idle_grace, timezone.utc).strftime("%H:%M UTC")
            NOTICES[self.user.name] = (f"Your server's GPUs have been idle since "
                                       f"{datetime.fromtimestamp(since, timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}: "
                                       f"unless they are used, the server stops at {stop_at} (your files stay), "
                                       "so that others can use them.")
            self.log.info("Warned %s: their server's GPUs are idle since %s", self.user.name, since)
        elif verdict == gpu_usage.STOP:
            self.log.info("Stopping %s's server: its GPUs stayed idle past the warning", self.user.name)
            NOTICES[self.user.name] = ("Your server was stopped because its GPUs stayed idle; your files are kept. "
                                       "Start it again when you need it.")
            self.warned_at = None
            await self.stop()
            return 0
        return None
