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
