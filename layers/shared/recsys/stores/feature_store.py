"""Real-time user and item features (Redis hashes, spec: `user_features:{user_id}`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import redis

FeatureValue = str | int | float


USER_FEATURES_TTL = 30 * 86400


class FeatureStore(Protocol):
    def put_user_features(
        self, user_id: str, features: Mapping[str, FeatureValue], ttl_seconds: int
    ) -> None: ...
    def get_user_features(self, user_id: str) -> dict[str, str]: ...
    def add_popularity(self, weights: Mapping[tuple[str, str | None], float]) -> None: ...
    def popular(self, limit: int, category: str | None = None) -> list[tuple[str, float]]: ...
    def record_activity(self, user_id: str, counts: Mapping[str, int], last_time: int) -> None: ...


class RedisFeatureStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def user_key(user_id: str) -> str:
        return f"user_features:{user_id}"

    def put_user_features(self, user_id: str, features: Mapping[str, FeatureValue], ttl_seconds: int) -> None:
        """Merge `features` into the user's hash and (re)start its time to live."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        key = self.user_key(user_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=dict(features))
            pipe.expire(key, ttl_seconds)
            pipe.execute()

    def get_user_features(self, user_id: str) -> dict[str, str]:
        raw: dict[bytes, bytes] = self._redis.hgetall(self.user_key(user_id))  # type: ignore[assignment]
        return {k.decode(): v.decode() for k, v in raw.items()}

    @staticmethod
    def popularity_key(category: str | None) -> str:
        return "popularity:all" if category is None else f"popularity:category:{category.lower()}"

    def add_popularity(self, weights: Mapping[tuple[str, str | None], float]) -> None:
        """Add each (item, category)'s interaction weight to the overall and per-category rankings."""
        with self._redis.pipeline(transaction=False) as pipe:
            for (item_id, category), weight in weights.items():
                pipe.zincrby(self.popularity_key(None), weight, item_id)
                if category:
                    pipe.zincrby(self.popularity_key(category), weight, item_id)
            pipe.execute()

    def popular(self, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        ranked = self._redis.zrevrange(self.popularity_key(category), 0, limit - 1, withscores=True)
        return [(member.decode(), float(score)) for member, score in ranked]  # type: ignore[union-attr]

    def record_activity(self, user_id: str, counts: Mapping[str, int], last_time: int) -> None:
        """Count a user's interactions per action and remember the latest one."""
        key = self.user_key(user_id)
        with self._redis.pipeline(transaction=True) as pipe:
            for action, count in counts.items():
                pipe.hincrby(key, f"count_{action}", count)
                pipe.hincrby(key, "interactions_total", count)
            pipe.hset(key, "last_interaction_time", str(last_time))
            pipe.expire(key, USER_FEATURES_TTL)
            pipe.execute()

    def forget_user_embedding(self, user_id: str) -> None:
        self._redis.delete(f"user_embedding:{user_id}")

    def forget_item_embedding(self, item_id: str) -> None:
        self._redis.delete(f"item_embedding:{item_id}")
