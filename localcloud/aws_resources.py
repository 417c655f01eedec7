"""The template's stateful AWS resources (buckets, streams, queues, EMR Serverless applications,
IAM roles) in the emulator: created, and for a fresh stack emptied or created again empty.

The list of what to create is the template itself: every resource of a supported type is
created under the physical name the template gives it, in dependency order, idempotently.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from localcloud.services.base import ServiceError
from localcloud.template import StackContext, TemplateError, UnresolvedResource, referenced_resources


def _create_bucket(clients: Any, ctx: StackContext, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
    s3 = clients("s3")
    name = props.get("BucketName") or f"{ctx.stack_name}-{logical_id}".lower()
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        if ctx.region == "us-east-1":  # S3's own rule: its first region takes no LocationConstraint
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": ctx.region})
    if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    queues = (props.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []
    if queues:  # the emulator then sends S3's event messages to the queue, as S3 does
        s3.put_bucket_notification_configuration(
            Bucket=name,
            NotificationConfiguration={"QueueConfigurations": [_queue_notification(q) for q in queues]},
        )
    return {"Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}


def _queue_notification(queue: dict[str, Any]) -> dict[str, Any]:
    """A template's QueueConfiguration as S3's API takes it."""
    notification: dict[str, Any] = {"QueueArn": queue["Queue"], "Events": [queue["Event"]]}
    rules = ((queue.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
    if rules:
        notification["Filter"] = {
            "Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}
        }
    return notification


def _stream_name(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> str:
    return str(props.get("Name") or f"{ctx.stack_name}-{logical_id}")


def _queue_name(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> str:
    return str(props.get("QueueName") or f"{ctx.stack_name}-{logical_id}")


def _create_stream(clients: Any, ctx: StackContext, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
    kinesis = clients("kinesis")
    name = _stream_name(ctx, logical_id, props)
    with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName=name, ShardCount=int(props.get("ShardCount", 1)))
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return {"Ref": name, "Arn": arn}


_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
)


def _create_queue(clients: Any, ctx: StackContext, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
    sqs = clients("sqs")
    name = _queue_name(ctx, logical_id, props)
    attributes = {key: str(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    if attributes:
        # Set separately so a changed template updates a queue that already exists.
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}


def _create_spark_application(
    clients: Any, ctx: StackContext, logical_id: str, props: dict[str, Any]
) -> dict[str, str]:
    """An EMR Serverless application (its runs execute in the emulator: services/spark_jobs.py)."""
    emr = clients("emr-serverless")
    name = str(props.get("Name") or f"{ctx.stack_name}-{logical_id}")
    found = spark_applications(emr, {name})
    if found:
        application_id, arn = found[0]["id"], found[0]["arn"]
    else:
        created = emr.create_application(name=name, releaseLabel=props["ReleaseLabel"], type=props["Type"])
        application_id, arn = created["applicationId"], created["arn"]
    return {"Ref": application_id, "Arn": arn, "ApplicationId": application_id}


def spark_applications(emr: Any, names: set[str]) -> list[dict[str, Any]]:
    """The emulator's live (not terminated) EMR Serverless applications of these names."""
    return [
        application
        for page in emr.get_paginator("list_applications").paginate()
        for application in page["applications"]
        if application["name"] in names and application["state"] != "TERMINATED"
    ]


def _create_role(clients: Any, ctx: StackContext, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
    """An IAM role, as the emulator keeps it (nothing enforces its policies locally)."""
    iam = clients("iam")
    name = str(props.get("RoleName") or f"{ctx.stack_name}-{logical_id}")[:64]
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        document = json.dumps(props.get("AssumeRolePolicyDocument") or {})
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)["Role"]
    return {"Ref": name, "Arn": role["Arn"], "RoleId": role["RoleId"]}


CREATORS = {
    "AWS::S3::Bucket": _create_bucket,
    "AWS::Kinesis::Stream": _create_stream,
    "AWS::SQS::Queue": _create_queue,
    "AWS::EMRServerless::Application": _create_spark_application,
    "AWS::IAM::Role": _create_role,
}


def create_stack_resources(ctx: StackContext, clients: Any) -> dict[str, dict[str, str]]:
    """Create every supported resource of the template; returns logical id -> attributes."""
    resources = ctx.template["Resources"]
    pending = {lid for lid, res in resources.items() if res.get("Type") in CREATORS}
    all_ids = set(resources)
    while pending:
        ready = sorted(
            lid
            for lid in pending
            if not (referenced_resources(resources[lid].get("Properties", {}), all_ids) & pending)
        )
        if not ready:
            raise TemplateError(f"circular references between {sorted(pending)}")
        for logical_id in ready:
            resource = resources[logical_id]
            try:
                props = ctx.resolve(resource.get("Properties") or {})
            except UnresolvedResource as exc:
                raise TemplateError(
                    f"{logical_id} refers to {exc.logical_id}, which the local stack cannot create"
                ) from None
            ctx.resources[logical_id] = CREATORS[resource["Type"]](clients, ctx, logical_id, props)
            pending.discard(logical_id)
    return ctx.resources


def deploy_resources(ctx: StackContext, clients: Any, *, fresh: bool = False) -> None:
    """Create the template's resources; fresh: its streams, queues and Spark applications are
    created again empty and its buckets emptied. A failure is a ServiceError with the emulator's
    message."""
    try:
        if fresh:
            delete_streams_and_queues(ctx, clients)
            delete_spark_applications(ctx, clients)
        create_stack_resources(ctx, clients)
        if fresh:  # a model published by an earlier run must not outlive the data it was trained on
            empty_buckets(ctx, clients)
    except Exception as exc:  # botocore errors carry the emulator's message
        raise ServiceError(
            f"creating {ctx.stack_name}'s AWS resources in the emulator failed: {exc}"
        ) from exc


def empty_buckets(ctx: StackContext, clients: Any) -> int:
    """Delete every object (every version) in the stack's buckets: a fresh stack starts empty."""
    s3, deleted = clients("s3"), 0
    for logical_id, resource in ctx.template["Resources"].items():
        if resource.get("Type") != "AWS::S3::Bucket" or logical_id not in ctx.resources:
            continue
        bucket = ctx.resources[logical_id]["Ref"]
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            doomed = [
                {"Key": entry["Key"], "VersionId": entry["VersionId"]}
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if doomed:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
                deleted += len(doomed)
    return deleted


def delete_streams_and_queues(ctx: StackContext, clients: Any) -> None:
    """Drop the stack's streams and queues (created again empty): a fresh stack must not replay
    records an earlier run left on its stream."""
    kinesis, sqs = clients("kinesis"), clients("sqs")
    for logical_id, resource in ctx.template["Resources"].items():
        props = ctx.resolve(
            {k: v for k, v in (resource.get("Properties") or {}).items() if k in ("Name", "QueueName")}
        )
        if resource.get("Type") == "AWS::Kinesis::Stream":
            name = _stream_name(ctx, logical_id, props)
            with contextlib.suppress(kinesis.exceptions.ResourceNotFoundException):
                kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
                kinesis.get_waiter("stream_not_exists").wait(
                    StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
                )
        elif resource.get("Type") == "AWS::SQS::Queue":
            name = _queue_name(ctx, logical_id, props)
            with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):
                _drain(sqs, sqs.get_queue_url(QueueName=name)["QueueUrl"])


def delete_spark_applications(ctx: StackContext, clients: Any) -> None:
    """Terminate the stack's EMR Serverless applications (created again without runs): a fresh
    stack must not find the runs of an earlier one."""
    emr = clients("emr-serverless")
    names = {
        str(ctx.resolve((resource.get("Properties") or {}).get("Name") or f"{ctx.stack_name}-{logical_id}"))
        for logical_id, resource in ctx.template["Resources"].items()
        if resource.get("Type") == "AWS::EMRServerless::Application"
    }
    for application in spark_applications(emr, names):
        emr.stop_application(applicationId=application["id"])
        emr.delete_application(applicationId=application["id"])


def _drain(sqs: Any, url: str) -> None:
    """Empty a queue: PurgeQueue, or (it allows one purge a minute) receive and delete."""
    try:
        sqs.purge_queue(QueueUrl=url)
        return
    except sqs.exceptions.PurgeQueueInProgress:
        pass
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
        "Messages"
    ):
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
