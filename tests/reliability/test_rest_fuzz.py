"""REST fuzzing from the OpenAPI schema (schemathesis) against a real server process, with
valid and invalid input, as the owner of a real document, one of its viewers or nobody:
no 500s, no status and no body outside the schema."""

from __future__ import annotations

import random
from typing import Any

import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reliability import harness
from tests.reliability.harness import Figures
from tests.support.factories import token_for
from tests.support.scene import Scene
from tests.support.servers import TandemProcess


def test_rest_api_fuzzed_from_its_openapi_schema(server: TandemProcess) -> None:
    scene = Scene(server)
    headers = {
        "owner": {"Authorization": f"Bearer {token_for(scene.owner)}"},
        "viewer": {"Authorization": f"Bearer {token_for(scene.viewer)}"},
        "anonymous": {},
    }
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
    for operation in sorted(operations, key=_deletions_last):
        for cases, count in _case_sets(operation, examples):
            _fuzz(cases, count, scene, headers, rnd, statuses)
    figures.trials = len(operations)
    figures.inputs = sum(statuses.values())
    figures.note = "statuses " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    harness.record(figures)


def _deletions_last(operation: Any) -> int:
    """Members are removed after every other operation ran, the document after that: once
    it is gone, the cases aimed at it all end in the same 404."""
    if operation.method.upper() != "DELETE":
        return 0
    return 1 if "{username}" in operation.path else 2


def _case_sets(operation: Any, examples: int) -> list[tuple[st.SearchStrategy[Any], int]]:
    """Requests the schema allows; then half as many it forbids, which must get a declared 4xx
    (a path no route matches, such as a negative version number, gets the JSON 404)."""
    return [
        (operation.as_strategy(), examples),
        (operation.as_strategy(schemathesis.GenerationMode.NEGATIVE), examples // 2),
    ]


def _fuzz(
    cases: st.SearchStrategy[Any],
    examples: int,
    scene: Scene,
    headers: dict[str, dict[str, str]],
    rnd: random.Random,
    statuses: dict[int, int],
) -> None:
    # Mostly the owner, who may do everything; the viewer meets the 403s, nobody the 401s.
    callers = st.sampled_from(["owner", "owner", "viewer", "anonymous"])

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
    )
    @given(case=cases, real=st.booleans(), caller=callers)
    def check(case: Any, real: bool, caller: str) -> None:
        # Half the cases aim at the real document (and a real member), so the fuzzer
        # reaches past the 404 of a random id.
        if real and case.path_parameters:
            for name in case.path_parameters:
                if name in ("document_id", "id", "pk"):
                    case.path_parameters[name] = str(scene.document.id)
                elif name == "username":
                    case.path_parameters[name] = rnd.choice(["editor", "viewer", "owner"])
        # No 500s, every status is one the operation declares, and every body (errors too)
        # matches its schema. Left out: positive_data_acceptance, which wants schema-valid
        # input never to get a 400; but the schema cannot say that a password must be strong,
        # a username free, a new member an existing user, a version at most the head, or that
        # the owner's membership cannot be changed, and those get a 400.
        response = case.call_and_validate(
            headers=headers[caller],
            checks=[
                schemathesis.checks.not_a_server_error,
                schemathesis.checks.status_code_conformance,
                schemathesis.checks.response_schema_conformance,
                schemathesis.checks.content_type_conformance,
            ],
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500

    check()
