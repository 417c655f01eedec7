"""A/B experiments: their definitions (PostgreSQL) and users' assignments (Redis, 24 hours)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    import psycopg
    import redis

ASSIGNMENT_TTL = 86400


class RankingExperiments(Protocol):
    def active_ranking(self) -> tuple[str, list[dict[str, Any]]] | None: ...


class Assignments(Protocol):
    def keep_first(
        self, user_id: str, experiment_id: str, assignment: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]: ...


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    variants: list[dict[str, Any]]
    is_active: bool
    created_at: datetime


class ExperimentDefinitions(Protocol):
    def all(self) -> list[Experiment]: ...


class AssignmentCounts(Protocol):
    def counts(self, experiment_ids: list[str]) -> dict[str, dict[str, int]]: ...


class PostgresExperimentStore:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def put(self, experiment_id: str, variants: list[dict[str, Any]], is_active: bool) -> None:
        self._conn.execute(
            "INSERT INTO experiments (experiment_id, variants, is_active) VALUES (%s, %s, %s)"
            " ON CONFLICT (experiment_id) DO UPDATE"
            " SET variants = EXCLUDED.variants, is_active = EXCLUDED.is_active",
            (experiment_id, Jsonb(variants), is_active),
        )

    def get(self, experiment_id: str) -> tuple[list[dict[str, Any]], bool] | None:
        row = self._conn.execute(
            "SELECT variants, is_active FROM experiments WHERE experiment_id = %s", (experiment_id,)
        ).fetchone()
        return (list(row[0]), bool(row[1])) if row else None

    def all(self) -> list[Experiment]:
        """Every experiment, newest first."""
        rows = self._conn.execute(
            "SELECT experiment_id, variants, is_active, created_at FROM experiments"
            " ORDER BY created_at DESC, experiment_id"
        ).fetchall()
        return [Experiment(str(r[0]), list(r[1]), bool(r[2]), r[3]) for r in rows]

    def active_ranking(self) -> tuple[str, list[dict[str, Any]]] | None:
        """The newest active experiment whose variants carry a ranking blend, if any."""
        row = self._conn.execute(
            "SELECT experiment_id, variants FROM experiments WHERE is_active AND EXISTS"
            " (SELECT 1 FROM jsonb_array_elements(variants) v WHERE jsonb_typeof(v->'blend') = 'object')"
            " ORDER BY created_at DESC, experiment_id LIMIT 1"
        ).fetchone()
        return (str(row[0]), list(row[1])) if row else None


class CachedExperiments:
    """The active ranking experiment as the request path reads it: asked of PostgreSQL at most
    every `check_seconds` (an experiment started, changed or stopped is served so within that
    time), instead of on every request."""

    def __init__(
        self,
        store: Callable[[], RankingExperiments],
        check_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._check_seconds, self._clock = store, check_seconds, clock
        self._active: tuple[str, list[dict[str, Any]]] | None = None
        self._checked = float("-inf")

    def active_ranking(self) -> tuple[str, list[dict[str, Any]]] | None:
        if self._clock() - self._checked >= self._check_seconds:
            self._active, self._checked = self._store().active_ranking(), self._clock()
        return self._active


class RedisAssignments:
    """A user's assignment to an experiment, kept ASSIGNMENT_TTL (the spec's 24 hours), and how
    many assignments each variant got (`ab_test_counts:{experiment_id}`, variant -> count: each
    first assignment counts once; a user assigned again after theirs expired counts again)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def keep_first(
        self, user_id: str, experiment_id: str, assignment: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """The first assignment kept within the TTL (this one if there is none) and whether it
        is this one: SET NX, so parallel first calls agree."""
        key = f"ab_test:{user_id}:{experiment_id}"
        if self._redis.set(key, json.dumps(assignment), nx=True, ex=ASSIGNMENT_TTL):
            self._redis.hincrby(f"ab_test_counts:{experiment_id}", str(assignment["variant"]), 1)
            return assignment, True
        stored = self._redis.get(key)
        return (json.loads(stored) if stored else assignment), False  # type: ignore[arg-type]

    def counts(self, experiment_ids: list[str]) -> dict[str, dict[str, int]]:
        """Each experiment's assignments per variant (only variants assigned at least once)."""
        with self._redis.pipeline(transaction=False) as pipe:
            for experiment_id in experiment_ids:
                pipe.hgetall(f"ab_test_counts:{experiment_id}")
            found = pipe.execute()
        return {
            experiment_id: {k.decode(): int(v) for k, v in counted.items()}
            for experiment_id, counted in zip(experiment_ids, found, strict=True)
        }
