"""The local Redis persists as the reliability rules need it (localcloud/services/redis.py)."""

from recsys.connections import redis_client


def test_every_write_reaches_the_append_only_file_which_is_rewritten_only_past_1_gb(settings):
    config = redis_client(settings).config_get("*")
    assert (config["appendonly"], config["appendfsync"]) == ("yes", "always")
    assert config["save"] == ""  # no RDB snapshots beside the append-only file
    assert int(config["auto-aof-rewrite-min-size"]) == 1 << 30
