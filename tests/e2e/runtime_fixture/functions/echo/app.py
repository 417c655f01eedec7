import json
import os
import time

import fixture_shared  # noqa: F401 - proves the layer is on the path

_COLD = True


def handler(event, context):
    global _COLD
    cold, _COLD = _COLD, False
    body = {
        "event": event,
        "cold": cold,
        "pid": os.getpid(),
        "env": {k: os.environ.get(k) for k in ("GREETING", "OWN", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")},
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "function_name": context.function_name,
    }
    time.sleep(float((event.get("queryStringParameters") or {}).get("sleep", 0)))
    if event.get("pathParameters", {}) and event["pathParameters"].get("name") == "explode":
        raise RuntimeError("asked to explode")
    print(f"echo handled {event.get('path')}")
    return {
        "statusCode": 201 if event.get("httpMethod") == "POST" else 200,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": json.dumps(body),
    }
