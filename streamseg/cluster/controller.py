"""``ClusterController``: the detached actor that places camera groups and keeps them running.

It holds the wanted state (which cameras, in which groups) and makes the cluster match it: one
``GroupWorker`` actor per group, spread over the nodes. Every ``cluster.probe_s`` it asks each group
for its status; a group whose actor died (its node lost, or the process crashed) is started again at
once wherever Ray finds room, and until a node takes it its cameras read ``unplaced``. A group whose
pipeline cannot start (say its model is missing on that node) is retried with a growing pause.

Group actors are owned by the controller (Ray kills them with it) and never restarted by Ray itself:
a restart must carry the cameras added and removed since, which only the controller knows. The
controller itself is restarted by Ray; it then reads the cameras from the roster (``roster.py``), which
it tells of every add and remove. Methods called over Ray return a ``StreamsegError``, never raise it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from streamseg.cluster import placement as plan
from streamseg.cluster.group import GroupWorker
from streamseg.cluster.groups import Group, status_document
from streamseg.cluster.ray_support import NAMESPACE, node_id, require_ray
from streamseg.cluster.roster import CALL_TIMEOUT_S as ROSTER_TIMEOUT_S
from streamseg.cluster.roster import find_roster
from streamseg.config import Config, SourceConfig
from streamseg.config.names import clash, taken_message
from streamseg.config.uris import check_client_uri
from streamseg.errors import ClusterError, SourceExistsError, StreamsegError, UnknownSourceError

logger = logging.getLogger(__name__)

ACTOR_CONCURRENCY = 8  # status, previews and metrics are answered while a camera is being added
ADD_WAIT_S = 60.0  # a new group must have loaded its model before its first camera can be checked
CALL_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
RETRY_MAX_S = 30.0


class ClusterController:
    """See the module docstring. Built by ``streamseg cluster up`` as a detached, named actor."""

    def __init__(self, config: Config) -> None:
        """``config`` holds no dashboard token: the controller takes it from the roster."""
        self._ray = require_ray()
        self._config = config
        self._cluster = config.cluster
        self._on_gpu = config.model.device != "cpu"
        self._worker = self._ray.remote(GroupWorker)
        self._lock = threading.RLock()
        self._groups: dict[str, Group] = {}
        self._adding: dict[str, str] = {}  # camera being added -> its group
        self._stop = threading.Event()
        self._started_at = time.time()
        self.init_error: str | None = None
        self.dashboard_url: str | None = None
        self._server: Any = None
        self._roster = find_roster(self._ray)
        for i, cameras in enumerate(
            plan.split(self._wanted_cameras(), self._cluster.cameras_per_group, self._slots())
        ):
            name = plan.group_name(i + 1)
            self._groups[name] = Group(name, cameras)
        try:
            self._start_dashboard(self._ask_roster("token"))  # None: loopback only, or the variable
        except StreamsegError as exc:
            self.init_error = str(exc)
            return
        self._thread = threading.Thread(target=self._loop, name="placement", daemon=True)
        self._thread.start()

    # -- called over Ray ---------------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        """What ``cluster up`` reports: an error that kept the controller from starting, or where it is."""
        return {
            "error": self.init_error,
            "node": node_id(),
            "dashboard": self.dashboard_url,
            "groups": len(self._groups),
            "cameras": sum(len(g.cameras) for g in self._groups.values()),
        }

    def status(self) -> dict[str, Any]:
        """Every camera with its group, node and health; every group; the dashboard's address."""
        with self._lock:
            groups = [g for g in self._groups.values() if not g.dropped]
            return status_document(groups, self.dashboard_url, self._started_at)

    def group_statuses(self) -> list[tuple[str, dict[str, Any]]]:
        """(group, its last single-machine status document) of every running group, for the dashboard."""
        with self._lock:
            return [
                (g.name, g.status["status"])
                for g in self._groups.values()
                if g.started and g.status is not None and g.status.get("status") is not None
            ]

    def running_groups(self) -> list[tuple[str, str, Any]]:
        """(group, node, actor) of every group whose pipeline runs."""
        with self._lock:
            return [
                (g.name, g.where["node"], g.actor)
                for g in self._groups.values()
                if g.started and g.actor is not None and g.where is not None
            ]

    def actor_of(self, camera: str) -> tuple[int, Any] | None:
        """(generation, actor) of the running group that has ``camera``, if any."""
        with self._lock:
            for g in self._groups.values():
                if g.started and g.actor is not None and camera in g.names():
                    return g.generation, g.actor
        return None

    def add_camera(self, camera: SourceConfig) -> StreamsegError | None:
        """Put a camera into the emptiest group with room (or a new one) and start it there. A running
        group refuses a camera it cannot reach; nothing changes then."""
        try:
            self.add_source(camera)
        except StreamsegError as exc:
            return exc
        return None

    def remove_camera(self, name: str) -> StreamsegError | None:
        """Stop one camera (its recording finalized); a group left empty is stopped."""
        try:
            self.remove_source(name)
        except StreamsegError as exc:
            return exc
        return None

    def shutdown(self) -> dict[str, Any]:
        """Stop every group (recordings finalized) and the dashboard; the caller then kills this actor."""
        self._stop.set()
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(self._cluster.probe_s + 5)
        with self._lock:
            groups = list(self._groups.values())
            self._groups.clear()
        recordings = self._stop_groups(groups)
        if self._server is not None:
            self._server.stop()
        logger.info("cluster down: %d groups stopped", len(groups))
        return {"groups": len(groups), "recordings": recordings}

    # -- the dashboard's control (raises; see sources_api) ----------------------------------------

    def add_source(self, camera: SourceConfig) -> None:
        check_client_uri(camera.uri, self._config.source_rules.allow_listen)  # before any group sees it
        name = camera.display_name()
        with self._lock:
            taken = clash(name, [*(n for g in self._groups.values() for n in g.names()), *self._adding])
            if taken is not None:  # one slug space: not the same files and MQTT topics either
                raise SourceExistsError(taken_message(name, taken, "in the cluster"))
            sizes = {g.name: len(g.cameras) for g in self._groups.values() if not g.dropped}
            for joining in self._adding.values():  # cameras on their way count: two adds never collide
                sizes[joining] = sizes.get(joining, 0) + 1
            target = plan.group_for_new_camera(sizes, self._cluster.cameras_per_group)
            new = target is None
            if target is None:
                target = plan.next_group_name(list(self._groups))
                self._groups[target] = Group(target, [])
            group = self._groups[target]
            self._adding[name] = target
        try:
            if new and self._has_room():
                with self._lock:
                    self._spawn(group)  # empty: it must run before it can check the camera
                self._wait_started(group)
            if group.started and group.actor is not None:
                error = self._call(group.actor.add_camera, camera, timeout=self._add_timeout())
                if error is not None:
                    if new:
                        self._drop_if_empty(group)
                    raise error
                with self._lock:
                    group.cameras.append(camera)
            else:  # not running (no room, still starting, failed): it takes the camera when it starts
                with self._lock:
                    group.cameras.append(camera)
                    self._restart_if_starting(group)
        finally:
            with self._lock:
                self._adding.pop(name, None)
        self._ask_roster("put", camera)  # missed: only a controller restart would not see it
        logger.info("camera %s added to group %s", name, group.name)

    def remove_source(self, name: str) -> None:
        with self._lock:
            group = next((g for g in self._groups.values() if name in g.names()), None)
            if group is None:
                raise UnknownSourceError(f"no camera named '{name}' in the cluster")
        if group.started and group.actor is not None:
            error = self._call(group.actor.remove_camera, name, timeout=CALL_TIMEOUT_S)
            if error is not None:
                raise error
        with self._lock:
            group.cameras = [c for c in group.cameras if c.display_name() != name]
            if group.cameras:
                self._restart_if_starting(group)
        self._drop_if_empty(group)
        self._ask_roster("drop", name)
        logger.info("camera %s removed from group %s", name, group.name)

    # -- placement loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._tick()
            except Exception:  # the loop must survive anything one round throws
                logger.exception("placement round failed")
            self._stop.wait(max(0.0, self._cluster.probe_s - (time.monotonic() - started)))

    def _tick(self) -> None:
        """Start what should run, ask what runs how it is, and handle every answer that came in."""
        now = time.monotonic()
        with self._lock:
            groups = [g for g in self._groups.values() if not g.dropped]
            for g in groups:
                if g.actor is None and now >= g.retry_at and g.cameras:
                    self._spawn(g)
                elif g.started and "status" not in g.pending and now - g.probed_at >= self._cluster.probe_s:
                    g.pending["status"] = g.actor.status.remote()
                    g.probed_at = now
            waiting = {ref: (g, kind) for g in groups for kind, ref in g.pending.items()}
        if not waiting:
            return
        ready, _ = self._ray.wait(list(waiting), num_returns=len(waiting), timeout=self._cluster.probe_s)
        for ref in ready:
            group, kind = waiting[ref]
            with self._lock:
                if group.pending.get(kind) is ref and not group.dropped:
                    del group.pending[kind]
                    self._settle(group, kind, ref)

    def _spawn(self, g: Group) -> None:
        g.generation += 1
        options: dict[str, Any] = {
            "name": f"group-{g.name}.{g.generation}",
            "namespace": NAMESPACE,
            "num_cpus": self._cluster.cpus_per_group,
            "max_restarts": 0,
            "max_concurrency": ACTOR_CONCURRENCY,
            "scheduling_strategy": "SPREAD",
        }
        if self._on_gpu:
            options["num_gpus"] = self._cluster.gpus_per_group
        g.actor = self._worker.options(**options).remote(g.name, self._config, list(g.cameras), self._on_gpu)
        g.pending = {"where": g.actor.where.remote(), "start": g.actor.start.remote()}
        g.where, g.started, g.status = None, False, None
        logger.info("group %s: placing (generation %d, %d cameras)", g.name, g.generation, len(g.cameras))

    def _settle(self, g: Group, kind: str, ref: Any) -> None:
        exceptions = self._ray.exceptions
        try:
            value = self._ray.get(ref, timeout=0)
        except exceptions.ActorUnavailableError:
            return  # unreachable for a moment; Ray says when it is dead
        except exceptions.RayActorError as exc:
            self._lost(g, exc)
            return
        except exceptions.RayError as exc:
            self._failed(g, f"{kind} failed: {type(exc).__name__}")
            return
        if kind == "where":
            g.where = value
            logger.info("group %s: on node %s", g.name, value["node"])
        elif kind == "start":
            if value is not None:
                self._failed(g, str(value))
            else:
                g.started, g.error, g.failures = True, None, 0
        elif kind == "status":
            g.status = value
            if value.get("error"):
                self._failed(g, value["error"])

    def _lost(self, g: Group, exc: BaseException) -> None:
        """The actor is dead: its node went away or its process crashed. Start it again now."""
        node = g.where["node"] if g.where else "no node"
        logger.warning("group %s lost on %s (%s); starting it again", g.name, node, type(exc).__name__)
        self._forget_actor(g)
        g.restarts += 1
        g.retry_at = 0.0

    def _failed(self, g: Group, error: str) -> None:
        """The group runs but cannot work (its model, its pipeline): try again after a growing pause."""
        g.failures += 1
        pause = min(RETRY_MAX_S, 0.5 * 2**g.failures)
        logger.warning("group %s failed: %s; trying again in %.0f s", g.name, error, pause)
        if g.actor is not None:
            self._ray.kill(g.actor, no_restart=True)
        self._forget_actor(g)
        g.error = error
        g.retry_at = time.monotonic() + pause

    def _forget_actor(self, g: Group) -> None:
        g.actor, g.where, g.started, g.status = None, None, False, None
        g.pending = {}

    # -- helpers ----------------------------------------------------------------------------------

    def _wanted_cameras(self) -> list[SourceConfig]:
        """The roster's cameras (this controller may be a restart), else the config's."""
        cameras: list[SourceConfig] | None = self._ask_roster("cameras")
        return list(self._config.sources) if cameras is None else cameras

    def _ask_roster(self, method: str, *args: Any) -> Any:
        """The roster's answer to ``method(*args)``; None without a roster, or when it does not answer."""
        if self._roster is None:
            return None
        try:
            return self._ray.get(getattr(self._roster, method).remote(*args), timeout=ROSTER_TIMEOUT_S)
        except Exception as exc:  # its node is gone, or it is being restarted
            logger.warning("the camera roster did not answer %s (%s)", method, exc)
            return None

    def _slots(self) -> int:
        """How many groups to make when ``cameras_per_group`` is 0: GPUs, else nodes that can host one."""
        if self._on_gpu:
            return int(self._ray.cluster_resources().get("GPU", 0) // self._cluster.gpus_per_group) or 1
        need = self._cluster.cpus_per_group
        nodes = [n for n in self._ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) >= need]
        return max(1, len(nodes))

    def _has_room(self) -> bool:
        free = self._ray.available_resources()
        if self._on_gpu and free.get("GPU", 0) < self._cluster.gpus_per_group:
            return False
        return bool(free.get("CPU", 0) >= self._cluster.cpus_per_group)

    def _wait_started(self, group: Group) -> None:
        """Until the group's pipeline runs; raises when it cannot start (gives up quietly when its
        actor is gone or it takes too long: the camera then joins unchecked)."""
        deadline = time.monotonic() + ADD_WAIT_S
        while not group.started and time.monotonic() < deadline and not self._stop.is_set():
            if group.error is not None:
                self._drop_if_empty(group)
                raise ClusterError(f"group {group.name} cannot start: {group.error}")
            if group.actor is None:
                return
            time.sleep(0.1)

    def _restart_if_starting(self, g: Group) -> None:
        """A group whose actor is waiting for a node or loading its model was made with the cameras of
        then: make it again with the wanted ones (under the lock)."""
        if g.actor is not None and not g.started:
            self._ray.kill(g.actor, no_restart=True)
            self._forget_actor(g)
            g.retry_at = 0.0

    def _add_timeout(self) -> float:
        return self._config.pipeline.source_timeout_s + CALL_TIMEOUT_S

    def _call(self, method: Any, *args: Any, timeout: float) -> StreamsegError | None:
        """One call on a group actor; a group that dies meanwhile is not the caller's error."""
        exceptions = self._ray.exceptions
        try:
            result: StreamsegError | None = self._ray.get(method.remote(*args), timeout=timeout)
        except exceptions.GetTimeoutError:
            return ClusterError(f"the group did not answer within {timeout:.0f} s")
        except exceptions.RayActorError:
            return None  # it is started again with the wanted cameras
        return result

    def _drop_if_empty(self, group: Group) -> None:
        with self._lock:
            if group.cameras or group.dropped:
                return
            group.dropped = True
            self._groups.pop(group.name, None)
        self._stop_groups([group])
        logger.info("group %s stopped: no cameras left", group.name)

    def _stop_groups(self, groups: list[Group]) -> list[str]:
        """Stop the groups' pipelines together (recordings finalized), then their actors; returns the
        recordings they wrote."""
        stopping = [(g, g.actor.stop.remote()) for g in groups if g.actor is not None and g.started]
        recordings: list[str] = []
        for g, ref in stopping:
            try:
                recordings += self._ray.get(ref, timeout=STOP_TIMEOUT_S)
            except (self._ray.exceptions.RayError, TimeoutError):
                logger.warning("group %s did not stop cleanly", g.name)
        for g in groups:
            if g.actor is not None:
                self._ray.kill(g.actor, no_restart=True)
        return recordings

    def _start_dashboard(self, token: str | None) -> None:
        from streamseg.cluster.views import cluster_dashboard  # noqa: PLC0415 - aiohttp only here

        self._server = cluster_dashboard(self, self._config, token)
        self.dashboard_url = self._server.url
