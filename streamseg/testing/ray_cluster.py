"""A Ray cluster of several nodes on this one machine (``ray.cluster_utils.Cluster``): a head without
CPUs for groups, and worker nodes that can be added and killed. Used by the cluster tests and by
``tools/cluster_failover.py`` and ``tools/bench_cluster.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RayCluster:
    cluster: Any  # ray.cluster_utils.Cluster
    worker_cpus: float
    workers: list[Any] = field(default_factory=list)  # its worker nodes (each has .node_id)

    @classmethod
    def start(
        cls,
        workers: int,
        worker_cpus: float,
        system_config: dict[str, Any] | None = None,
        head_cpus: float = 0,
    ) -> RayCluster:
        """Head plus ``workers`` nodes; ``system_config`` is what ``RAY_...`` variables set on a real head."""
        from ray.cluster_utils import Cluster  # noqa: PLC0415 - Ray only where a cluster is made

        head = {"num_cpus": head_cpus, "_system_config": dict(system_config or {})}
        handle = cls(Cluster(initialize_head=True, head_node_args=head), worker_cpus)
        try:
            for _ in range(workers):
                handle.add_worker()
        except BaseException:
            handle.shutdown()
            raise
        return handle

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add_worker(self) -> Any:
        node = self.cluster.add_node(num_cpus=self.worker_cpus)
        self.cluster.wait_for_nodes()
        self.workers.append(node)
        return node

    def kill_worker(self, node_id: str) -> None:
        """The node vanishes (SIGKILL, no goodbye), like a machine losing power."""
        node = next(n for n in self.workers if n.node_id == node_id)
        self.workers.remove(node)
        self.cluster.remove_node(node, allow_graceful=False)

    def shutdown(self) -> None:
        import ray  # noqa: PLC0415

        ray.shutdown()
        self.cluster.shutdown()
