"""A shorter `make chaos`: Redis, Cassandra and a consumer's execution environment killed with
SIGKILL under traffic; every acknowledged event must be in the log once, its features applied
once, and no request may get a 500. (The AWS emulator's scenario runs in `make chaos` only: it
wipes every stack's streams and queues, the test stack's included.)"""

from __future__ import annotations

import json

from chaos.run import main


def test_nothing_acknowledged_is_lost_when_stores_and_consumers_die(cloud, capsys):
    code = main(
        ["--scenarios", "consumer,redis,cassandra", "--events", "60", "--kill-after", "2", "--down-for", "3"]
    )
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["scenarios"]
    for scenario, figures in results.items():
        assert figures["acknowledged"] >= 200, scenario  # 4 clients × 60 events, retried until accepted
        assert figures["stored_once"] == figures["acknowledged"], (scenario, figures)
        assert (figures["lost"], figures["duplicated"], figures["features_missing"], figures["http_500"]) == (
            0,
            0,
            0,
            0,
        ), (scenario, figures)
    assert code == 0
