import time


def handler(event, context):
    time.sleep(float((event.get("queryStringParameters") or {}).get("seconds", event.get("seconds", 3))))
    return {"statusCode": 200, "body": "finally"}
