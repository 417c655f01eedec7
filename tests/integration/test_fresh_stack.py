"""A fresh stack (what the tests, make eval, make chaos and make bench deploy) starts with empty
streams and queues: records an earlier run left must not be replayed into its wiped stores."""

from localcloud.settings import Stack


def _left_on_the_stream(kinesis, stream: str) -> int:
    count = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        count += len(kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"])
    return count


def test_a_fresh_stack_starts_with_empty_streams_and_queues(cloud):
    stack = Stack(name="recsys-fresh", database="recsys_fresh", keyspace="recsys_fresh", redis_db=11)
    kinesis, sqs = cloud.aws_client("kinesis"), cloud.aws_client("sqs")
    for _ in range(2):  # twice within a minute: SQS allows one PurgeQueue a minute per queue
        context = cloud.deploy(stack)
        stream = context.resources["InteractionStream"]["Ref"]
        queue = context.resources["InteractionFailureQueue"]["Ref"]
        kinesis.put_record(StreamName=stream, Data=b"{}", PartitionKey="user_1")
        sqs.send_message(QueueUrl=queue, MessageBody="left over")
        assert _left_on_the_stream(kinesis, stream) >= 1

        context = cloud.deploy(stack, fresh=True)

        assert _left_on_the_stream(kinesis, context.resources["InteractionStream"]["Ref"]) == 0
        assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None
