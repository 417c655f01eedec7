import base64
import json
import uuid

from fixture_shared import record


def queue_handler(event, context):
    failures = []
    for message in event["Records"]:
        if message["body"] == "poison":
            failures.append({"itemIdentifier": message["messageId"]})
            continue
        record(f"queue/{message['body']}/{uuid.uuid4()}")
    return {"batchItemFailures": failures}


def stream_handler(event, context):
    payloads = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    if "poison" in payloads:
        raise ValueError("poison record in batch")  # before any effect: a failed batch has none
    for payload in payloads:
        record(f"stream/{payload}/{uuid.uuid4()}")
    return {"processed": len(payloads)}


def scheduled_handler(event, context):
    record(f"scheduled/{event['id']}/event", json.dumps(event))
    return {"ok": True}
