from localcloud.settings import ROOT
from recsys.api.openapi import document, rendered


def test_committed_openapi_document_matches_the_code():
    committed = (ROOT / "openapi.json").read_text()
    assert committed == rendered(), "openapi.json is stale: run `make openapi` and commit it"


def test_every_operation_documents_the_error_envelope_and_auth():
    spec = document()
    assert spec["security"] == [{"ApiKey": []}]
    for path, operations in spec["paths"].items():
        assert path.startswith("/v1/")
        for method, operation in operations.items():
            for status in ("400", "401", "429", "500", "503"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema["required"] == ["error"], (method, path, status)


def test_every_route_of_the_template_is_in_the_document():
    from tests.unit.test_sample_events import served_functions

    _, functions = served_functions()
    routes = {
        (props["Path"], props["Method"].lower())
        for spec in functions.values()
        for _, props in spec.events_of("Api")
        if not props["Path"].startswith(("/docs", "/openapi", "/console"))
    }
    documented = {(path, method) for path, operations in document()["paths"].items() for method in operations}
    assert routes == documented
