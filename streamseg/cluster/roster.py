"""``Roster``: the cluster's camera list and dashboard token, kept apart from the controller.

Ray starts a crashed controller again with the arguments it was first given, so on its own it would
come back with the config's cameras: those added while it ran gone, those removed back. The roster is
a second small detached actor (on the head, beside the controller) that the controller tells of every
add and remove, and reads when it starts. ``cluster up`` creates it; ``cluster down`` removes it.

The dashboard token reaches it by a method call, never as an actor argument: Ray keeps actor arguments
in its cluster state (to restart the actor), where anyone who can list actors could read them.
"""

from __future__ import annotations

from typing import Any

from streamseg.cluster.ray_support import NAMESPACE, ROSTER
from streamseg.config import SourceConfig

CALL_TIMEOUT_S = 10.0


class Roster:
    """Cameras by name, in the order they joined."""

    def __init__(self, cameras: list[SourceConfig]) -> None:
        self._cameras = {c.display_name(): c for c in cameras}
        self._token: str | None = None

    def keep_token(self, token: str | None) -> None:
        self._token = token

    def token(self) -> str | None:
        return self._token

    def cameras(self) -> list[SourceConfig]:
        return list(self._cameras.values())

    def put(self, camera: SourceConfig) -> None:
        self._cameras[camera.display_name()] = camera

    def drop(self, name: str) -> None:
        self._cameras.pop(name, None)


def find_roster(ray: Any) -> Any:
    """The running roster's handle, or None (a controller started without ``cluster up``)."""
    try:
        return ray.get_actor(ROSTER, namespace=NAMESPACE)
    except ValueError:
        return None
