import boto3
import pytest
from moto import mock_aws

from localcloud.aws_resources import create_stack_resources
from localcloud.settings import TEST_STACK, Layout, Ports, local_context
from localcloud.template import TemplateError, referenced_resources

TEMPLATE = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["local", "dev"]},
        "Hosts": {"Type": "CommaDelimitedList", "Default": "a,b"},
    },
    "Conditions": {"IsLocal": {"Fn::Equals": [{"Ref": "Stage"}, "local"]}},
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${AWS::StackName}-q"}}},
        "Dlq": {"Type": "AWS::SQS::Queue"},
    },
}


def context(**overrides):
    return local_context(TEMPLATE, "stk", overrides)


def test_sub_ref_join_and_conditions_resolve():
    ctx = context(Stage="local")
    ctx.resources["Queue"] = {"Ref": "https://q", "Arn": "arn:q"}
    assert ctx.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${Queue.Arn}"}) == "stk-local-arn:q"
    assert ctx.resolve({"Fn::Join": [",", {"Ref": "Hosts"}]}) == "a,b"
    assert ctx.resolve({"Fn::If": ["IsLocal", "yes", "no"]}) == "yes"
    assert ctx.resolve({"Fn::Sub": ["${X}!", {"X": {"Ref": "Queue"}}]}) == "https://q!"
    assert ctx.resolve({"Fn::Sub": "${!Literal}"}) == "${Literal}"
    assert ctx.resolve([1, {"Ref": "AWS::NoValue"}, 2]) == [1, 2]


def test_parameters_are_checked():
    with pytest.raises(TemplateError, match="not one of"):
        context(Stage="prod")
    with pytest.raises(TemplateError, match="parameters the template lacks"):
        context(Nope="1")


def test_reference_to_uncreated_resource_is_reported():
    with pytest.raises(TemplateError, match="Dlq is not created yet"):
        context().resolve({"Fn::GetAtt": ["Dlq", "Arn"]})


def test_no_value_leaves_a_property_out_also_as_an_if_branch():
    resolved = context(Stage="local").resolve(
        {
            "Keep": 1,
            "Gone": {"Ref": "AWS::NoValue"},
            "Either": {"Fn::If": ["IsLocal", {"Ref": "AWS::NoValue"}, 2]},
        }
    )
    assert resolved == {"Keep": 1}


def test_referenced_resources_finds_ref_getatt_and_sub():
    ids = {"A", "B", "C"}
    value = {
        "x": {"Ref": "A"},
        "y": [{"Fn::GetAtt": ["B", "Arn"]}],
        "z": {"Fn::Sub": "${C.Arn}/${AWS::Region}"},
    }
    assert referenced_resources(value, ids) == {"A", "B", "C"}


@mock_aws
def test_project_template_creates_its_resources_in_dependency_order():
    layout = Layout()
    ctx = TEST_STACK.context(Ports(), layout)
    clients = lambda name: boto3.client(name)  # noqa: E731
    created = create_stack_resources(ctx, clients)

    expected = {
        logical_id
        for logical_id, resource in ctx.template["Resources"].items()
        if resource["Type"]
        in {
            "AWS::S3::Bucket",
            "AWS::Kinesis::Stream",
            "AWS::SQS::Queue",
            "AWS::EMRServerless::Application",
            "AWS::IAM::Role",
        }
    }
    assert set(created) == expected
    application = clients("emr-serverless").get_application(
        applicationId=created["SparkTrainingApplication"]["Ref"]
    )["application"]
    assert (application["releaseLabel"], application["type"].upper()) == ("emr-7.5.0", "SPARK")
    sqs = clients("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=created["CatalogImportQueue"]["Ref"], AttributeNames=["All"]
    )
    assert created["CatalogImportDeadLetterQueue"]["Arn"] in attributes["Attributes"]["RedrivePolicy"]
    # Creating again is harmless and yields the same physical ids.
    again = create_stack_resources(TEST_STACK.context(Ports(), layout), clients)
    assert again == created
