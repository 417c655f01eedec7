"""The Python client against `openapi.json`: every schema has a model of the same shape (fields,
required fields, types, enums), every operation a method that sends its method, path, query and
headers with a body the document accepts, and parses the document's answer. Changing either
side alone fails here."""

from __future__ import annotations

import inspect
import json
import re
import uuid
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel

from localcloud.settings import ROOT
from recsys_client import RecsysClient, RetryPolicy
from recsys_client.endpoints import ALIAS_HEADERS, ENDPOINTS, MAX_BATCH_EVENTS, MAX_BODY_BYTES, Endpoint
from recsys_client.models import SCHEMAS, InteractionEvent
from tests.unit.fake_http import Reply, Seen, fake_api

DOCUMENT = json.loads((ROOT / "openapi.json").read_text())
COMPONENTS: dict[str, Any] = DOCUMENT["components"]["schemas"]
REF = "#/components/schemas/"


# -- schemas: one shape for both sides -------------------------------------------------------
def shape(schema: dict[str, Any]) -> Any:
    """What a schema says about types, leaving out what only the API checks (patterns, lengths,
    bounds) and what only documents (titles, descriptions, defaults)."""
    if "$ref" in schema:
        return ("ref", schema["$ref"].removeprefix(REF).removeprefix("#/$defs/"))
    if "anyOf" in schema:
        return ("anyOf", frozenset(shape(option) for option in schema["anyOf"]))
    if "const" in schema:
        return ("enum", frozenset([schema["const"]]))
    if "enum" in schema:
        return ("enum", frozenset(schema["enum"]))
    kind = schema.get("type")
    if kind == "array":
        return ("array", shape(schema.get("items", {})))
    if kind == "object":
        extra = schema.get("additionalProperties")
        return ("object", shape(extra) if isinstance(extra, dict) else extra)
    if kind == "string":
        return ("string", schema.get("format"))
    return (kind,)


def model_shape(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "properties": {name: shape(prop) for name, prop in schema.get("properties", {}).items()},
        "required": sorted(schema.get("required", [])),
        "additionalProperties": schema.get("additionalProperties", True) is not False,
    }


def client_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template=REF + "{model}")


def differences(name: str, document: dict[str, Any], model: type[BaseModel]) -> list[str]:
    ours, theirs = model_shape(client_schema(model)), model_shape(document)
    found = []
    for field in sorted(set(ours["properties"]) | set(theirs["properties"])):
        if ours["properties"].get(field) != theirs["properties"].get(field):
            found.append(
                f"{name}.{field}: client {ours['properties'].get(field)} != document "
                f"{theirs['properties'].get(field)}"
            )
    for key in ("required", "additionalProperties"):
        if ours[key] != theirs[key]:
            found.append(f"{name} {key}: client {ours[key]} != document {theirs[key]}")
    return found


def test_every_schema_of_the_document_has_a_client_model_and_no_other():
    assert sorted(SCHEMAS) == sorted(COMPONENTS)


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_each_client_model_has_the_fields_required_fields_and_types_of_its_schema(name):
    assert differences(name, COMPONENTS[name], SCHEMAS[name]) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["properties"].pop("feedback_id"),  # a field removed
        lambda s: s["properties"].update(extra={"type": "string"}),  # a field added
        lambda s: s["required"].remove("reason"),  # no longer required
        lambda s: s["properties"]["version"].update(type="string"),  # another type
        lambda s: s["properties"]["status"]["enum"].append("deleted"),  # another value
        lambda s: s["properties"]["feedback_id"].pop("format"),  # no longer a uuid
    ],
)
def test_the_comparison_notices_each_kind_of_drift(change):
    document = json.loads(json.dumps(COMPONENTS["FeedbackResponse"]))
    change(document)
    assert differences("FeedbackResponse", document, SCHEMAS["FeedbackResponse"])


def test_the_batch_event_is_an_interaction_with_an_event_id_and_the_limits_are_the_documents():
    interaction = model_shape(COMPONENTS["InteractionRequest"])
    event = model_shape(client_schema(InteractionEvent))
    assert event["properties"] == {
        **interaction["properties"],
        "event_id": ("anyOf", frozenset({("string", None), ("null",)})),
    }
    assert COMPONENTS["InteractionBatchRequest"]["properties"]["events"]["maxItems"] == MAX_BATCH_EVENTS
    too_large = {
        op["responses"]["413"]["description"] for ops in DOCUMENT["paths"].values() for op in ops.values()
    }
    assert too_large == {f"Request body over the limit ({MAX_BODY_BYTES // 2**20} MiB)"}


# -- operations: one method each -------------------------------------------------------------
OPERATIONS = {
    (method.upper(), path): operation
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
}


def parameters(operation: dict[str, Any], where: str) -> dict[str, bool]:
    return {p["name"]: p.get("required", False) for p in operation.get("parameters", []) if p["in"] == where}


def ref_of(content: dict[str, Any] | None) -> str | None:
    schema = (content or {}).get("application/json", {}).get("schema", {})
    return schema["$ref"].removeprefix(REF) if "$ref" in schema else None


def test_every_operation_has_one_client_endpoint_and_method():
    assert sorted((e.method, e.path) for e in ENDPOINTS.values()) == sorted(OPERATIONS)
    for name in ENDPOINTS:
        assert callable(getattr(RecsysClient, name, None)), name


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_each_endpoint_matches_its_operation(name):
    endpoint = ENDPOINTS[name]
    operation = OPERATIONS[(endpoint.method, endpoint.path)]
    successes = {int(code): r for code, r in operation["responses"].items() if code.startswith("2")}
    assert list(successes) == [endpoint.status]
    assert ref_of(successes[endpoint.status].get("content")) == (
        endpoint.response and endpoint.response.__name__
    )
    body = operation.get("requestBody", {}).get("content")
    assert ref_of(body) == (endpoint.request and endpoint.request.__name__)
    assert sorted(parameters(operation, "path")) == sorted(re.findall(r"{(\w+)}", endpoint.path))
    assert sorted(parameters(operation, "query")) == sorted(endpoint.query)
    documented = {h.lower() for h in parameters(operation, "header")} - {h.lower() for h in ALIAS_HEADERS}
    assert documented == {h.lower() for h in endpoint.headers.values()}
    if endpoint.key_header:
        assert endpoint.key_header in endpoint.headers.values()


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_each_method_takes_the_operations_parameters_and_body_fields(name):
    endpoint = ENDPOINTS[name]
    operation = OPERATIONS[(endpoint.method, endpoint.path)]
    signature = inspect.signature(getattr(RecsysClient, name)).parameters
    required = {**parameters(operation, "path"), **parameters(operation, "query")}
    body_schema = COMPONENTS[endpoint.request.__name__] if endpoint.request else {"properties": {}}
    required |= {field: field in body_schema.get("required", []) for field in body_schema["properties"]}
    if name == "record_interaction":
        required |= {"context": False, "timestamp": False}
    for argument in endpoint.headers:
        required[argument] = False
    for argument, is_required in required.items():
        assert argument in signature, f"{name} takes no {argument}"
        has_default = signature[argument].default is not inspect.Parameter.empty
        assert has_default != is_required, f"{name}({argument}): required is {is_required}"


# -- each method against a server that answers as the document says ---------------------------
def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    return COMPONENTS[schema["$ref"].removeprefix(REF)] if "$ref" in schema else schema


def sample(schema: dict[str, Any], required_only: bool = False) -> Any:
    """A value of the schema: every property, or only the required ones."""
    schema = resolve(schema)
    if "anyOf" in schema:
        return sample(next(o for o in schema["anyOf"] if o.get("type") != "null"), required_only)
    if "const" in schema or "enum" in schema:
        return schema.get("const", (schema.get("enum") or [None])[0])
    kind = schema.get("type")
    if kind == "object":
        keys = schema.get("required", []) if required_only else list(schema.get("properties", {}))
        return {key: sample(schema["properties"][key], required_only) for key in keys}
    if kind == "array":
        return [sample(schema.get("items", {}), required_only)]
    formats = {"date-time": "2026-01-20T15:30:00Z", "uuid": str(uuid.UUID(int=1))}
    values: dict[str, Any] = {"string": formats.get(str(schema.get("format")), "x1"), "integer": 1}
    return {**values, "number": 0.5, "boolean": True}[str(kind)]


def problems(value: Any, schema: dict[str, Any], where: str = "body") -> list[str]:
    """Where `value` breaks `schema` (the subset of JSON Schema the document uses)."""
    schema = resolve(schema)
    if "anyOf" in schema:
        options = [problems(value, option, where) for option in schema["anyOf"]]
        return [] if any(not found for found in options) else options[0]
    if "const" in schema and value != schema["const"]:
        return [f"{where}: {value!r} is not {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not in {schema['enum']}"]
    kind = str(schema.get("type"))
    kinds: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "object": dict,
        "array": list,
    }
    if kind == "null":
        return [] if value is None else [f"{where}: not null"]
    if kind in kinds and (
        not isinstance(value, kinds[kind]) or (kind != "boolean" and isinstance(value, bool))
    ):
        return [f"{where}: {value!r} is not {kind}"]
    if kind == "string":
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return [f"{where}: {value!r} does not match {schema['pattern']}"]
        if schema.get("format") == "date-time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    if kind == "array":
        return [
            p for n, item in enumerate(value) for p in problems(item, schema.get("items", {}), f"{where}.{n}")
        ]
    if kind == "object":
        found = [f"{where}: {key} is required" for key in schema.get("required", []) if key not in value]
        properties, extra = schema.get("properties", {}), schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                found += problems(item, properties[key], f"{where}.{key}")
            elif extra is False:
                found.append(f"{where}: {key} is not a field")
            elif isinstance(extra, dict):
                found += problems(item, extra, f"{where}.{key}")
        return found
    return []


# Every argument of every method, so that each sends all it can.
CALLS: dict[str, dict[str, Any]] = {
    "get_recommendations": dict(
        user_id="u1",
        context="homepage",
        limit=5,
        category="Drama",
        exclude=["i2"],
        session_id="s1",
        device_type="web",
    ),
    "explain_recommendation": dict(item_id="i1", user_id="u1"),
    "get_similar_items": dict(item_id="i1", limit=5),
    "record_interaction": dict(
        user_id="u1",
        item_id="i1",
        action="watch",
        context={"source": "homepage", "position": 3},
        timestamp=datetime.fromisoformat("2026-01-20T15:30:00+00:00"),
        event_id="evt-1",
        session_id="s1",
    ),
    "record_interactions_batch": dict(events=[{"user_id": "u1", "item_id": "i1", "action": "click"}]),
    "start_interaction_import": dict(format="jsonl"),
    "get_interaction_import": dict(import_id="iimp_" + "0" * 32),
    "create_feedback": dict(
        user_id="u1", item_id="i1", feedback_type="like", reason="r", idempotency_key="k1"
    ),
    "update_feedback": dict(
        feedback_id=uuid.UUID(int=1), feedback_type="dislike", reason="r", version=1, idempotency_key="k1"
    ),
    "delete_feedback": dict(feedback_id=uuid.UUID(int=1)),
    "get_user": dict(user_id="u1"),
    "get_user_history": dict(user_id="u1", limit=10),
    "get_preferences": dict(user_id="u1"),
    "list_experiments": dict(),
    "get_model": dict(versions=5),
    "refresh_model": dict(training="lambda"),
    "get_ingest_stats": dict(minutes=30),
    "put_user": dict(user_id="u1", preferred_categories=["Drama"], language="en", country="US"),
    "put_preferences": dict(
        user_id="u1",
        favorite_categories=["Drama"],
        excluded_items=["i2"],
        language="en",
        version=0,
        idempotency_key="k1",
    ),
    "get_item": dict(item_id="i1"),
    "put_item": dict(
        item_id="i1",
        title="One",
        description="d",
        category="Drama",
        subcategory="Noir",
        tags=["t"],
        content_features={"director": "A"},
        thumbnail_url="https://x/y.jpg",
        avg_rating=4.5,
        is_active=True,
    ),
    "put_item_features": dict(
        item_id="i1",
        content_features={"a": 1},
        popularity_features={"b": 2},
        engagement_features={"c": 3},
        version=0,
        idempotency_key="k1",
    ),
    "start_catalog_import": dict(items=[{"item_id": "i1", "title": "One", "tags": ["t"]}]),
    "get_catalog_import": dict(import_id="imp_" + "0" * 32),
    "put_experiment": dict(
        experiment_id="exp1",
        variants=[{"name": "a", "weight": 1, "blend": {"recent_weight": 2.0}}, {"name": "b", "weight": 1}],
        is_active=True,
    ),
    "assign_variant": dict(experiment_id="exp1", user_id="u1"),
}


def documented_answer(required_only: bool):
    def answer(seen: Seen) -> Reply:
        template = next(
            (m, p)
            for m, p in OPERATIONS
            if m == seen.method and re.fullmatch(re.sub(r"{\w+}", "[^/]+", p), seen.path)
        )
        operation = OPERATIONS[template]
        code, response = next((c, r) for c, r in operation["responses"].items() if c.startswith("2"))
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        return Reply(int(code), sample(schema, required_only) if schema else None)

    return answer


def test_every_method_is_called_here():
    assert sorted(CALLS) == sorted(ENDPOINTS)


@pytest.mark.parametrize("required_only", [False, True], ids=["every-field", "required-fields"])
@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_each_method_sends_what_its_operation_accepts_and_parses_what_it_answers(name, required_only):
    endpoint: Endpoint = ENDPOINTS[name]
    operation = OPERATIONS[(endpoint.method, endpoint.path)]
    with fake_api(documented_answer(required_only)) as api:
        client = RecsysClient(api.url, "rk_test", retry=RetryPolicy(max_attempts=1))
        result = getattr(client, name)(**CALLS[name])
    (seen,) = api.requests
    assert seen.method == endpoint.method
    assert re.fullmatch(re.sub(r"{\w+}", "[^/]+", endpoint.path), seen.path)
    query = parameters(operation, "query")
    assert set(seen.query) == set(query)  # every query parameter, since every argument is given
    headers = {h.lower() for h in parameters(operation, "header")} - {h.lower() for h in ALIAS_HEADERS}
    assert headers <= set(seen.headers)
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema:
        assert seen.headers["content-type"] == "application/json"
        assert problems(seen.json(), schema) == []
        assert set(seen.json()) == set(resolve(schema)["properties"])  # every field, since every argument
    else:
        assert seen.body == b""
    if endpoint.response is None:
        assert result is None
    else:
        assert isinstance(result, endpoint.response)
