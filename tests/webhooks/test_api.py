"""Webhooks through the REST API: who may manage them, the secret shown once, the error
answers, and the outbox rows written in the transaction of the change they report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from backend.documents import services as documents
from backend.documents.models import Document, Role
from backend.webhooks.models import Delivery, Webhook
from tests.support.factories import make_user, share

pytestmark = pytest.mark.django_db
URL = "http://127.0.0.1:9/hook"  # never called here: nothing delivers in these tests


@pytest.fixture
def document(owner_client: APIClient) -> dict[str, Any]:
    return dict(owner_client.post("/api/documents/", {"title": "Plan"}).json())


def _create(client: APIClient, **body: Any) -> Any:
    return client.post(
        "/api/webhooks/", {"url": URL, "events": ["member.added"], **body}, format="json"
    )


def test_the_owner_registers_one_and_sees_the_secret_once(
    owner_client: APIClient, document: dict[str, Any]
) -> None:
    created = _create(owner_client, document=document["id"])
    assert created.status_code == 201, created.content
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert len(hook["secret"]) > 40
    assert hook["document"] == document["id"]
    assert hook["active"] is True
    listed = owner_client.get("/api/webhooks/").json()
    assert [h["id"] for h in listed] == [hook["id"]]
    assert all("secret" not in h for h in listed)
    assert "secret" not in owner_client.get(f"/api/webhooks/{hook['id']}/").json()
    rotated = owner_client.post(f"/api/webhooks/{hook['id']}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in {hook["secret"], ""}
    assert Webhook.objects.get(pk=hook["id"]).secret == rotated.json()["secret"]


def test_others_get_404_for_someone_elses_webhook(
    owner_client: APIClient, login: Callable[..., APIClient], document: dict[str, Any]
) -> None:
    hook = _create(owner_client, document=document["id"]).json()
    bob = login(username="bob")
    base = f"/api/webhooks/{hook['id']}/"
    assert bob.get(base).status_code == 404
    assert bob.patch(base, {"active": False}, format="json").status_code == 404
    assert bob.delete(base).status_code == 404
    assert bob.post(base + "rotate-secret/").status_code == 404
    assert bob.get(base + "deliveries/").status_code == 404
    assert bob.get("/api/webhooks/").json() == []
    assert owner_client.get("/api/webhooks/not-a-uuid/").status_code == 404
    assert Webhook.objects.get(pk=hook["id"]).active is True


def test_only_the_document_owner_registers_one_on_it(
    owner_client: APIClient, login: Callable[..., APIClient], document: dict[str, Any]
) -> None:
    editor = login(username="erin")
    share(Document.objects.get(pk=document["id"]), editor.user, Role.EDITOR)  # type: ignore[attr-defined]
    stranger = login(username="sam")
    assert _create(editor, document=document["id"]).status_code == 403
    assert _create(stranger, document=document["id"]).status_code == 404
    assert _create(owner_client, document="00000000-0000-0000-0000-000000000000").status_code == 404
    assert APIClient().get("/api/webhooks/").status_code == 401
    assert Webhook.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["document.exploded"]}, "events"),
    ],
)
def test_invalid_input_is_400_naming_the_field(
    owner_client: APIClient, body: dict[str, Any], field: str
) -> None:
    answer = _create(owner_client, **body)
    assert answer.status_code == 400
    assert field in answer.json()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fd00:ec2::254]/hook",
        "http://224.0.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://does-not-exist.invalid/hook",
    ],
)
def test_private_and_metadata_addresses_are_refused_at_registration(
    owner_client: APIClient, settings: Any, url: str
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE = False
    answer = _create(owner_client, url=url)
    assert answer.status_code == 400, answer.content
    assert "url" in answer.json()
    assert Webhook.objects.count() == 0


def test_metadata_addresses_stay_refused_when_private_ones_are_allowed(
    owner_client: APIClient,
) -> None:
    assert _create(owner_client, url="http://169.254.169.254/").status_code == 400
    assert _create(owner_client, url="http://127.0.0.1:8000/").status_code == 201


def test_an_event_row_commits_or_rolls_back_with_its_change(
    owner_client: APIClient, document: dict[str, Any]
) -> None:
    _create(owner_client, events=["member.added", "member.removed", "document.renamed"])
    make_user(username="bob")
    owner_client.post(
        f"/api/documents/{document['id']}/members/", {"username": "bob", "role": "viewer"}
    )
    (added,) = Delivery.objects.all()
    assert added.type == "member.added"
    assert added.payload["data"] == {
        "member": {"id": added.payload["data"]["member"]["id"], "username": "bob"},
        "role": "viewer",
    }
    assert added.payload["actor"]["username"] == "olivia"
    doc = Document.objects.get(pk=document["id"])

    def rename_then_fail() -> None:
        with transaction.atomic():
            documents.document_rename(document=doc, title="Renamed")
            raise RuntimeError("the change fails after the event was written")

    with pytest.raises(RuntimeError):
        rename_then_fail()
    assert Delivery.objects.count() == 1
    owner_client.delete(f"/api/documents/{document['id']}/members/bob/")
    assert sorted(Delivery.objects.values_list("type", flat=True)) == [
        "member.added",
        "member.removed",
    ]


def test_deleting_a_document_still_tells_its_webhook(
    owner_client: APIClient, document: dict[str, Any]
) -> None:
    hook = _create(owner_client, document=document["id"], events=["document.deleted"]).json()
    assert owner_client.delete(f"/api/documents/{document['id']}/").status_code == 204
    (deleted,) = Delivery.objects.filter(webhook_id=hook["id"])
    assert deleted.type == "document.deleted"
    assert deleted.payload["document"] == {"id": document["id"], "title": "Plan"}


def test_events_of_unsubscribed_types_and_other_owners_queue_nothing(
    owner_client: APIClient, login: Callable[..., APIClient], document: dict[str, Any]
) -> None:
    _create(owner_client, events=["member.removed"])
    bob = login(username="bob")
    _create(bob, events=["member.added"])  # bob's account-level hook: not olivia's documents
    owner_client.post(
        f"/api/documents/{document['id']}/members/", {"username": "bob", "role": "viewer"}
    )
    assert Delivery.objects.count() == 0


def test_patch_pauses_and_resumes_and_redeliver_requeues(
    owner_client: APIClient, document: dict[str, Any]
) -> None:
    hook = _create(owner_client).json()
    base = f"/api/webhooks/{hook['id']}/"
    assert owner_client.patch(base, {"active": False}, format="json").json()["active"] is False
    paused = owner_client.get(base).json()
    assert paused["disabled_reason"] == "disabled by its owner"
    resumed = owner_client.patch(
        base, {"active": True, "events": ["member.added", "member.added"]}, format="json"
    )
    assert resumed.json()["active"] is True
    assert resumed.json()["events"] == ["member.added"]
    make_user(username="bob")
    owner_client.post(
        f"/api/documents/{document['id']}/members/", {"username": "bob", "role": "viewer"}
    )
    (delivery,) = Delivery.objects.all()
    Delivery.objects.filter(pk=delivery.pk).update(state="failed")
    answer = owner_client.post(f"{base}deliveries/{delivery.pk}/redeliver/")
    assert answer.status_code == 202
    assert answer.json()["id"] == str(delivery.pk)
    assert answer.json()["state"] == "pending"
    assert owner_client.post(f"{base}deliveries/{hook['id']}/redeliver/").status_code == 404
    page = owner_client.get(f"{base}deliveries/").json()
    assert page["count"] == 1
    assert page["results"][0]["type"] == "member.added"
    assert owner_client.delete(base).status_code == 204
    assert Delivery.objects.count() == 0


def test_staff_register_one_in_the_admin_and_see_its_secret_once(
    admin_client: Any, document: dict[str, Any]
) -> None:
    owner = Document.objects.get(pk=document["id"]).owner
    form = {
        "owner": owner.pk,
        "document_id": document["id"],
        "url": "http://127.0.0.1:9/hook",
        "events": '["document.changed"]',
        "active": "on",
        "disabled_reason": "",
    }
    answer = admin_client.post("/admin/webhooks/webhook/add/", form, follow=True)
    assert answer.status_code == 200
    (hook,) = Webhook.objects.all()
    assert hook.secret.startswith("whsec_")
    assert hook.secret in answer.content.decode()
    assert hook.cursors.get().document_id == hook.document_id
    page = admin_client.get(f"/admin/webhooks/webhook/{hook.pk}/change/")
    assert page.status_code == 200
    assert hook.secret not in page.content.decode()
    assert admin_client.get("/admin/webhooks/delivery/").status_code == 200
