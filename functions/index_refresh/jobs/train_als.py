"""The refresh's training as a Spark job, for interaction logs past what one Lambda can train.

EMR Serverless (release emr-7.x, Spark 3.5) runs it in AWS; locally the AWS emulator runs it with
pyspark in `local[2]` mode, with the same arguments (localcloud/services/spark_jobs.py). The
refresh function uploads this file, starts the run, and publishes the model when the run ends
(recsys/logic/spark_training.py, README "Training on Spark").

It reads the interaction log (`user_events`) straight from Cassandra with the Spark Cassandra
Connector and applies the trainer's rules, which the refresh passes in so that both paths share
them: the action weights, impressions left out, each not-interested pair's weight, only the
catalog's active items. Then MLlib ALS with implicit preferences on the summed (user, item)
weights, and the next-item map M in the item factors' space, as the in-Lambda low-rank trainer
fits it (recsys/engine/training.py: `sequence_gram` and `solve_sequence_map`; a unit test keeps
the two equal). With --item-item (a catalog small enough for the refresh to solve items x items
matrices), also the statistics the in-Lambda trainer solves its item-item models from, summed
over the users: XᵀX of the presence matrix (EASE) and the next-item model's ZᵀZ and ZᵀY
(training.py's `gram` and `next_item_gram`; unit-tested equal too). It writes under --output:

- `factors.npz`: item_ids, item_factors (items x rank), item_users (users per item),
  sequence_map (rank x rank; not with --item-item, whose models do not need it);
- `item_item.npz` (with --item-item): item_ids, gram, next_zz, next_zy (items x items, float32);
- `user_factors/`: ALS's user factors, Parquet (user_id, features);
- `sample.json`: the newest events of a seeded sample of users, newest first, each
  [item_id, action, rating or null, epoch seconds] (scale choice, recall, calibration);
- `stats.json`: counts and timings.

Python 3.9 syntax and pyspark and numpy only: EMR Serverless's interpreter is Python 3.9.
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np


def transitions_gram(sequence, V, window, decay):
    """ZᵀZ and ZᵀY of one user's sequence (item rows of V, oldest first): each event after the
    first, its item's row (Y) against the decayed sum of the previous `window` items' rows (Z)."""
    d = V.shape[1]
    ZZ, ZY = np.zeros((d, d)), np.zeros((d, d))
    items = np.asarray(sequence, dtype=np.int64)
    if items.size < 2:
        return ZZ, ZY, 0
    lags = np.arange(window)
    back = np.arange(1, items.size)[:, None] - 1 - lags[None, :]
    Z = np.zeros((items.size - 1, d), dtype=np.float32)
    for lag in range(window):
        present = back[:, lag] >= 0
        if not present.any():
            break
        Z[present] += (decay**lag * V[items[back[present, lag]]]).astype(np.float32)
    Y = V[items[1:]]
    return Z.T.astype(np.float64) @ Z, Z.T.astype(np.float64) @ Y, items.size - 1


CHUNK = 8_000_000  # index pairs summed by one bincount: bounds a task's memory


def _sum_into(total, index, weights):
    """total.flat[i] += w for each pending (i, w), with one bincount; empties the lists."""
    if index:
        w = np.concatenate(weights) if weights[0] is not None else None
        total += np.bincount(np.concatenate(index), weights=w, minlength=total.size)
        del index[:], weights[:]


def item_item_statistics(users, n, window, decay):
    """For users given as (items, sequence): XᵀX of the users x items presence matrix (each
    user's distinct items; co-occurrence counts) and, over each sequence (oldest first), ZᵀZ and
    ZᵀY of every event after the first: Y its item, Z the previous `window` items decayed."""
    G, ZZ, ZY = np.zeros(n * n), np.zeros(n * n), np.zeros(n * n)
    pending = {"g": ([], []), "zz": ([], []), "zy": ([], [])}
    lags = np.arange(window)
    size = 0
    for items, sequence in users:
        unique = np.unique(np.asarray(items, dtype=np.int64))
        pending["g"][0].append((unique[:, None] * n + unique[None, :]).ravel())
        pending["g"][1].append(None)
        size += unique.size**2
        s = np.asarray(sequence, dtype=np.int64)
        if s.size >= 2:
            back = np.arange(1, s.size)[:, None] - 1 - lags[None, :]
            before = np.where(back >= 0, s[np.maximum(back, 0)], -1)
            weights = np.where(before >= 0, decay ** lags[None, :], 0.0)
            valid = (before[:, :, None] >= 0) & (before[:, None, :] >= 0)
            pending["zz"][0].append((before[:, :, None] * n + before[:, None, :])[valid])
            pending["zz"][1].append((weights[:, :, None] * weights[:, None, :])[valid])
            present = before >= 0
            pending["zy"][0].append((before * n + s[1:, None])[present])
            pending["zy"][1].append(weights[present])
            size += int(valid.sum())
        if size >= CHUNK:
            for total, key in ((G, "g"), (ZZ, "zz"), (ZY, "zy")):
                _sum_into(total, *pending[key])
            size = 0
    for total, key in ((G, "g"), (ZZ, "zz"), (ZY, "zy")):
        _sum_into(total, *pending[key])
    return G.reshape(n, n), ZZ.reshape(n, n), ZY.reshape(n, n)


def oldest_first(events):
    """A user's (event_time, event_id, item) events as items, oldest first, in the in-function
    trainer's order (recsys/logic/refresh.py: the log's event-id order, sorted newest first by a
    stable sort, then reversed), so that events of one instant follow each other the same way."""
    by_id = sorted(events, key=lambda e: e[1], reverse=True)
    return [e[2] for e in sorted(by_id, key=lambda e: e[0])]


def solve_sequence_map(ZZ, ZY, ridge):
    d = ZZ.shape[0]
    ZZ = ZZ.copy()
    ZZ[np.diag_indices_from(ZZ)] += ridge * max(float(np.trace(ZZ)) / d, 1e-12)
    return np.asarray(np.linalg.solve(ZZ, ZY), dtype=np.float32)


def _number(value):
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keyspace", required=True)
    parser.add_argument("--table", default="user_events")
    parser.add_argument("--weights", required=True, help="JSON: action -> weight")
    parser.add_argument("--items", required=True, help="the catalog's active item ids, one per line")
    parser.add_argument("--not-interested", required=True, help="JSON lines: user_id, item_id")
    parser.add_argument("--not-interested-weight", type=float, required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--reg", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--decay", type=float, default=0.95)
    parser.add_argument("--sequence-ridge", type=float, default=0.1)
    parser.add_argument("--sample-users", type=int, default=2000)
    parser.add_argument("--sample-events", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--item-item", action="store_true", help="also the item-item models' statistics (items x items)"
    )
    return parser.parse_args(argv)


def _delete(spark, uri):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)


def _write_bytes(spark, uri, data):
    """Bytes to any Hadoop file system URI (s3:// on EMR, file:// locally)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    stream = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).create(path, True)
    try:
        for start in range(0, len(data), 1 << 24):
            stream.write(bytearray(data[start : start + (1 << 24)]))
    finally:
        stream.close()


def main(argv=None):
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession, Window
    from pyspark.sql import functions as F

    args = arguments(argv)
    started = time.perf_counter()
    timings = {}
    spark = SparkSession.builder.appName("recsys-train-als").getOrCreate()
    output = args.output.rstrip("/")
    weights = json.loads(args.weights)

    weight_of = F.create_map(*[x for a, w in sorted(weights.items()) for x in (F.lit(a), F.lit(float(w)))])
    active = spark.read.text(args.items).select(F.col("value").alias("item_id")).distinct()
    events = (
        spark.read.format("org.apache.spark.sql.cassandra")
        .options(keyspace=args.keyspace, table=args.table)
        .load()
        .where(F.col("action_type") != "impression")  # exposure, not a choice the user made
        .select(
            "user_id",
            "item_id",
            "event_id",
            "event_time",
            "action_type",
            F.col("context")["rating"].alias("rating"),
        )
        .join(F.broadcast(active), "item_id")
        .withColumn("weight", F.coalesce(weight_of[F.col("action_type")], F.lit(0.0)))
        .cache()
    )
    not_interested = (
        spark.read.json(args.not_interested, schema="user_id string, item_id string")
        .join(F.broadcast(active), "item_id")
        .select("user_id", "item_id", F.lit(args.not_interested_weight).alias("weight"))
    )
    pairs = (
        events.select("user_id", "item_id", "weight")
        .unionByName(not_interested)
        .groupBy("user_id", "item_id")
        .agg(F.sum("weight").alias("weight"))
    )
    # ids to the integers ALS takes; items in id order, which factors.npz keeps
    items = pairs.select("item_id").distinct().orderBy("item_id")
    items = items.withColumn("item", F.row_number().over(Window.orderBy("item_id")) - 1).cache()
    users = pairs.select("user_id").distinct()
    users = spark.createDataFrame(users.rdd.map(lambda r: r[0]).zipWithIndex(), "user_id string, user long")
    users = users.withColumn("user", F.col("user").cast("int")).cache()
    ratings = pairs.join(users, "user_id").join(items, "item_id").select("user", "item", "weight").cache()
    counts = {
        "events": events.count(),
        "pairs": ratings.count(),
        "users": users.count(),
        "items": items.count(),
    }
    timings["read_seconds"] = round(time.perf_counter() - started, 3)

    clock = time.perf_counter()
    # ALS's iterations grow each RDD's lineage; without checkpoints a task's deserialization can
    # overflow the thread's stack (seen here, once, late in the 15 iterations)
    checkpoints = f"{output}/_checkpoints"
    spark.sparkContext.setCheckpointDir(checkpoints)
    als = ALS(
        rank=args.rank,
        maxIter=args.iterations,
        regParam=args.reg,
        alpha=args.alpha,
        implicitPrefs=True,
        userCol="user",
        itemCol="item",
        ratingCol="weight",
        seed=args.seed,
        coldStartStrategy="drop",
        checkpointInterval=5,
    )
    model = als.fit(ratings)
    timings["als_seconds"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    ordered = items.orderBy("item").collect()
    item_ids = [r.item_id for r in ordered]
    V = np.zeros((len(item_ids), args.rank), dtype=np.float32)
    for row in model.itemFactors.collect():
        V[row.id] = row.features
    item_users = np.zeros(len(item_ids), dtype=np.float32)
    for row in ratings.groupBy("item").count().collect():
        item_users[row["item"]] = row["count"]

    window, decay = args.window, args.decay
    sequences = (
        events.join(items, "item_id")
        .groupBy("user_id")
        .agg(F.collect_list(F.struct("event_time", "event_id", "item")).alias("events"))
    )
    timings["factors_seconds"] = round(time.perf_counter() - clock, 3)
    extra, transitions = {}, None
    if args.item_item:  # what the refresh builds its model from: the next-item map is not needed
        clock = time.perf_counter()
        n = len(item_ids)

        def statistics(rows):
            of_users = (
                (
                    row["items"] or [],
                    oldest_first([(e["event_time"], e["event_id"], e["item"]) for e in row["events"] or []]),
                )
                for row in rows
            )
            yield item_item_statistics(of_users, n, window, decay)

        per_user = sequences.join(
            ratings.join(users, "user").groupBy("user_id").agg(F.collect_list("item").alias("items")),
            "user_id",
            "full_outer",  # a user may have only not-interested pairs, and no events
        )
        co_counts, next_zz, next_zy = (
            per_user.rdd.coalesce(spark.sparkContext.defaultParallelism)
            .mapPartitions(statistics)
            .treeReduce(lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]))
        )
        buffer = io.BytesIO()
        np.savez(
            buffer,
            item_ids=np.asarray(item_ids),
            gram=co_counts.astype(np.float32),
            next_zz=next_zz.astype(np.float32),
            next_zy=next_zy.astype(np.float32),
        )
        _write_bytes(spark, f"{output}/item_item.npz", buffer.getvalue())
        timings["item_item_seconds"] = round(time.perf_counter() - clock, 3)
    else:  # the next-item map in the factors' space: every user's events oldest first
        clock = time.perf_counter()
        shared = spark.sparkContext.broadcast(V)

        def gram(rows):
            V = shared.value
            d = V.shape[1]
            ZZ, ZY, n = np.zeros((d, d)), np.zeros((d, d)), 0
            for row in rows:
                sequence = oldest_first([(e["event_time"], e["event_id"], e["item"]) for e in row["events"]])
                zz, zy, k = transitions_gram(sequence, V, window, decay)
                ZZ, ZY, n = ZZ + zz, ZY + zy, n + k
            yield ZZ, ZY, n

        ZZ, ZY, transitions = sequences.rdd.mapPartitions(gram).reduce(
            lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2])
        )
        extra["sequence_map"] = (
            solve_sequence_map(ZZ, ZY, args.sequence_ridge)
            if transitions
            else np.zeros((args.rank,) * 2, np.float32)
        )
        timings["sequence_seconds"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    buffer = io.BytesIO()
    np.savez(buffer, item_ids=np.asarray(item_ids), item_factors=V, item_users=item_users, **extra)
    _write_bytes(spark, f"{output}/factors.npz", buffer.getvalue())
    (
        model.userFactors.join(users.withColumnRenamed("user", "id"), "id")
        .select("user_id", "features")
        .write.mode("overwrite")
        .parquet(f"{output}/user_factors")
    )
    sampled = users.orderBy(F.rand(args.seed)).limit(args.sample_users)
    # newest first, events of one instant in event-id order: as the in-function trainer reads them
    newest = Window.partitionBy("user_id").orderBy(F.col("event_time").desc(), F.col("event_id").asc())
    sample = {}
    for row in (
        events.join(F.broadcast(sampled.select("user_id")), "user_id")
        .withColumn("n", F.row_number().over(newest))
        .where(F.col("n") <= args.sample_events)
        .orderBy("user_id", "n")
        .select("user_id", "item_id", "action_type", "rating", F.col("event_time").cast("double").alias("at"))
        .toLocalIterator()
    ):
        sample.setdefault(row.user_id, []).append([row.item_id, row.action_type, _number(row.rating), row.at])
    _write_bytes(spark, f"{output}/sample.json", json.dumps(sample).encode())
    _delete(spark, checkpoints)
    timings["write_seconds"] = round(time.perf_counter() - clock, 3)
    timings["total_seconds"] = round(time.perf_counter() - started, 3)
    stats = {
        "counts": {**counts, **({} if transitions is None else {"transitions": int(transitions)})},
        "timings": timings,
        "parameters": vars(args),
    }
    _write_bytes(spark, f"{output}/stats.json", json.dumps(stats).encode())
    spark.stop()


if __name__ == "__main__":
    main()
