"""REST fuzzing from the OpenAPI schema (schemathesis) against a real server process,
authenticated as the owner of a real document: no 500s, no response outside the schema."""

from __future__ import annotations

import random
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.collab.conftest import Scene
from tests.factories import token_for
from tests.reliability import harness
from tests.reliability.harness import Figures
from tests.servers import TandemProcess


def test_rest_api_fuzzed_from_its_openapi_schema(server: TandemProcess) -> None:
    scene = Scene(server)
    headers = {"Authorization": f"Bearer {token_for(scene.owner)}"}
    schema = schemathesis.openapi.from_url(f"{server.http_url}/api/schema/")
    figures = Figures("REST fuzz (schemathesis)")
    figures.seed = seed = harness.seed_for(figures.scenario)
    rnd = random.Random(seed)
    examples = harness.size(12, 60)
    statuses: dict[int, int] = {}
    # logout-all revokes the fuzzer's own token: every later case would be a 401.
    operations = [
        op for op in (r.ok() for r in schema.get_all_operations()) if "logout-all" not in op.path
    ]
    for operation in operations:
        _fuzz(operation, scene, headers, rnd, examples, statuses)
    figures.trials = len(operations)
    figures.inputs = sum(statuses.values())
    figures.note = "statuses " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    harness.record(figures)


def _fuzz(
    operation: Any,
    scene: Scene,
    headers: dict[str, str],
    rnd: random.Random,
    examples: int,
    statuses: dict[int, int],
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=operation.as_strategy(), real=st.booleans())
    def check(case: Any, real: bool) -> None:
        # Half the cases aim at the real document (and a real member), so the fuzzer
        # reaches past the 404 of a random id.
        if real and case.path_parameters:
            for name in case.path_parameters:
                if name in ("document_id", "id", "pk"):
                    case.path_parameters[name] = str(scene.document.id)
                elif name == "username":
                    case.path_parameters[name] = rnd.choice(["editor", "viewer", "owner"])
        # No 500s, and bodies of documented responses match their schema. Left out (see
        # docs/reliability.md): status-code conformance (error statuses 400/401/403/404 are
        # not declared per operation) and acceptance of schema-valid input (the schema
        # cannot say that a password must be strong or a username free).
        response = case.call_and_validate(
            headers=headers,
            checks=[
                schemathesis.checks.not_a_server_error,
                schemathesis.checks.response_schema_conformance,
                schemathesis.checks.content_type_conformance,
            ],
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500

    check()
