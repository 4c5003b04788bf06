from __future__ import annotations

from datetime import datetime

from marketplace.repositories._base import Conn


class RateLimitRepository:
    """Fixed-window counters in PostgreSQL, so every service replica shares one limit."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def hit(self, bucket: str, at: datetime, window_s: int) -> tuple[int, datetime]:
        """Counts one attempt; returns the attempts in the current window and when it started."""
        row = await self._conn.fetchrow(
            """
            INSERT INTO rate_limit_buckets AS b (bucket, window_started_at, hits)
            VALUES ($1, $2, 1)
            ON CONFLICT (bucket) DO UPDATE SET
                hits = CASE WHEN b.window_started_at <= $2 - make_interval(secs => $3) THEN 1 ELSE b.hits + 1 END,
                window_started_at = CASE WHEN b.window_started_at <= $2 - make_interval(secs => $3)
                                         THEN $2 ELSE b.window_started_at END
            RETURNING hits, window_started_at
            """,
            bucket,
            at,
            window_s,
        )
        assert row is not None
        return int(row["hits"]), row["window_started_at"]

    async def purge(self, window_started_before: datetime) -> int:
        result = await self._conn.execute(
            "DELETE FROM rate_limit_buckets WHERE window_started_at < $1", window_started_before
        )
        return int(result.split()[-1])

    async def reset(self, bucket: str) -> None:
        await self._conn.execute("DELETE FROM rate_limit_buckets WHERE bucket = $1", bucket)
