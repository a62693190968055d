"""docs/API.md, the HTTP contract in prose, stays in step with the OpenAPI document."""

import re
from pathlib import Path

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def normalised(path: str) -> str:
    """`/api/v1/deals/{deal_id}` and `/deals/{id}?x` both become `/api/v1/deals/{}`."""
    path = path.split("?")[0]
    path = path if path.startswith("/api/") else "/api/v1" + path
    return re.sub(r"\{[^}]*\}", "{}", path)


def documented_rows() -> list[tuple[str, str, str]]:
    """(method, normalised path, operationId) of every operation row in docs/API.md's tables."""
    rows = []
    for line in API_DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and cells[0] in HTTP_METHODS:
            rows.append((cells[0], normalised(cells[1]), cells[2]))
    return rows


def openapi_operations(client) -> dict[tuple[str, str], str]:
    spec = client.get("/api/v1/openapi.json").json
    return {
        (method.upper(), normalised(path)): operation["operationId"]
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }


def test_every_operation_of_the_openapi_document_has_a_row_in_the_api_doc(client):
    documented = {(method, path): name for method, path, name in documented_rows()}
    missing = {
        f"{method} {path}": name
        for (method, path), name in openapi_operations(client).items()
        if documented.get((method, path)) != name
    }
    assert not missing, f"add these to docs/API.md (method, path, operationId): {missing}"


def test_every_row_of_the_api_doc_names_a_real_operation_once(client):
    operations = openapi_operations(client)
    rows = documented_rows()
    assert len(rows) == len(set(rows))
    unknown = [row for row in rows if operations.get(row[:2]) != row[2]]
    assert not unknown, (
        f"docs/API.md rows with no such operation in the OpenAPI document: {unknown}"
    )
