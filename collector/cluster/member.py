"""A collector process as a member of the cluster: its heartbeat, its share of the targets, its leases."""

from __future__ import annotations

import structlog
from redis.asyncio import Redis

from collector.cluster.lease import Lease
from collector.cluster.membership import Membership, default_member_id
from collector.cluster.ownership import Ownership
from collector.config.settings import ClusterSettings
from collector.runtime import ScrapeService

log = structlog.get_logger(__name__)

SINGLETON_LEASE = "singletons"
"""The lease of what runs once in the cluster: history maintenance and the alert engine."""
SINGLETON_LEASE_TTL_S = 15.0
SINGLETON_DUTIES = ("alert_engine", "maintenance")
"""What the holder of :data:`SINGLETON_LEASE` runs."""


class ClusterMember:
    """Joins the cluster and keeps ``collector`` scraping this member's share of the targets."""

    def __init__(
        self, redis: Redis, collector: ScrapeService, settings: ClusterSettings, *, listen_port: int
    ) -> None:
        self.member = settings.member_id or default_member_id(listen_port)
        self.replicas = settings.replication_factor
        self.ownership = Ownership(self.member, frozenset(), self.replicas)
        self._collector = collector
        self.lease = Lease(redis, SINGLETON_LEASE, ttl_s=SINGLETON_LEASE_TTL_S, holder=self.member)
        self.membership = Membership(
            redis,
            self.member,
            heartbeat_s=settings.heartbeat_interval_s,
            ttl_s=settings.ttl_s,
            on_change=self._apply,
            describe=self._describe,
        )

    def _apply(self, members: frozenset[str]) -> None:
        self.ownership = Ownership(self.member, members, self.replicas)
        started, stopped = self._collector.reshard(self.ownership.owns)
        log.info(
            "cluster share applied",
            members=len(members),
            targets=len(self._collector.targets()),
            started=started,
            stopped=stopped,
        )

    def _describe(self) -> dict[str, object]:
        return {
            "targets": len(self._collector.targets()),
            "wanted": self._collector.wanted(),
            "leader": self.lease.fence is not None,
            "members": len(self.ownership.members),
            "replication_factor": self.replicas,
        }

    async def start(self) -> None:
        """Heartbeat (taking this member's share now) and start claiming the singletons' lease."""
        await self.membership.start()
        await self.lease.start()

    async def close(self) -> None:
        """Leave the cluster and give the lease up."""
        await self.membership.close()
        await self.lease.close()

    def health(self) -> dict[str, object]:
        """This member's view: members, its share, whether it runs the singletons."""
        return {
            **self.membership.health(),
            "replication_factor": self.replicas,
            "targets": len(self._collector.targets()),
            "leader": self.lease.held,
            "fence": self.lease.fence,
        }
