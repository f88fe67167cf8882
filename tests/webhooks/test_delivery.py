"""Delivery to a real receiver on loopback, by a deliverer in the test's process: retries
with the same event id, signatures, the address check at delivery, bounded answers and
waits, secret rotation, giving up, disabling, and ``document.changed`` read from the log."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from backend.collab.core.ports import PendingWrite
from backend.collab.storage.update_log import append
from backend.documents import services as documents
from backend.documents.models import Document, Role
from backend.notifications.models import Notification
from backend.webhooks import services
from backend.webhooks.models import Attempt, Delivery, Webhook
from backend.webhooks.signing import verify
from tests.support.factories import make_document, make_user
from tests.support.updates import typed
from tests.webhooks.receiver import Answer, running_receiver

pytestmark = pytest.mark.django_db(transaction=True)
Deliver = Callable[..., Any]


def _hook(document: Document, url: str, events: tuple[str, ...] = ("member.added",)) -> Webhook:
    return services.webhook_create(
        owner=document.owner, url=url, events=list(events), document=document
    )


def _add_member(document: Document, name: str = "bob") -> None:
    make_user(username=name)
    documents.member_add(document=document, username=name, role=Role.VIEWER, actor=document.owner)


def _states() -> list[str]:
    return list(Delivery.objects.values_list("state", flat=True))


def test_three_failures_then_the_fourth_attempt_delivers_the_same_signed_event(
    deliver: Deliver,
) -> None:
    with running_receiver(lambda n: Answer(status=500 if n <= 3 else 204)) as receiver:
        document = make_document()
        hook = _hook(document, receiver.url)
        _add_member(document)
        deliver(lambda: _states() == ["delivered"], what="the delivery to succeed")
    assert len(receiver.received) == 4
    ids = {r.event["id"] for r in receiver.received}
    (delivery,) = Delivery.objects.all()
    assert ids == {str(delivery.pk)}, "every attempt carries the same event id"
    for received in receiver.received:
        header = received.headers["Tandem-Signature"]
        assert verify(hook.secret, header, received.body, now=int(time.time()))
        assert not verify("whsec_wrong", header, received.body, now=int(time.time()))
        assert received.headers["Tandem-Event"] == "member.added"
    event = receiver.received[-1].event
    assert event["type"] == "member.added"
    assert event["data"]["member"]["username"] == "bob"
    assert event["document"] == {"id": str(document.pk), "title": document.title}
    outcomes = list(Attempt.objects.order_by("started_at").values_list("outcome", "status_code"))
    assert outcomes == [("http_error", 500)] * 3 + [("delivered", 204)]
    assert delivery.attempts == 4
    assert Webhook.objects.get(pk=hook.pk).failing_since is None


def test_an_address_that_became_private_is_refused_at_delivery(
    deliver: Deliver, settings: Any
) -> None:
    with running_receiver() as receiver:
        document = make_document()
        _hook(document, receiver.url)  # allowed when registered
        settings.WEBHOOK_ALLOW_PRIVATE = False
        _add_member(document)
        deliver(lambda: Attempt.objects.exists(), what="an attempt")
    attempt = Attempt.objects.get()
    assert attempt.outcome == "refused"
    assert "loopback" in attempt.error
    assert receiver.received == []


def test_an_oversized_answer_is_read_no_further_than_the_bound(
    deliver: Deliver, settings: Any
) -> None:
    settings.WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024
    huge = 256 * 1024 * 1024
    with running_receiver(lambda n: Answer(stream_bytes=huge)) as receiver:
        document = make_document()
        _hook(document, receiver.url)
        _add_member(document)
        began = time.monotonic()
        deliver(lambda: _states() == ["delivered"], what="the delivery")
        took = time.monotonic() - began
        attempt = Attempt.objects.get()
        deadline = time.monotonic() + 5
        while not receiver.streamed and time.monotonic() < deadline:
            time.sleep(0.05)
    assert attempt.status_code == 200
    assert len(attempt.response_body) == 1024
    assert "cut at 65536 bytes" in attempt.error
    assert receiver.streamed, "the receiver never finished writing"
    assert receiver.streamed[0] < huge // 4, "the whole answer was read"
    assert took < 5


def test_a_slow_receiver_times_out_and_is_retried(deliver: Deliver, settings: Any) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    with running_receiver(lambda n: Answer(delay=3 if n == 1 else 0)) as receiver:
        document = make_document()
        _hook(document, receiver.url)
        _add_member(document)
        deliver(lambda: _states() == ["delivered"], what="the retry to succeed")
    first, second = Attempt.objects.order_by("started_at")
    assert first.outcome == "timeout"
    assert 400 < first.duration_ms < 2000
    assert second.outcome == "delivered"
    assert len({r.event["id"] for r in receiver.received}) == 1


def test_a_rotated_secret_signs_alongside_the_old_one_during_the_grace_period(
    deliver: Deliver,
) -> None:
    with running_receiver() as receiver:
        document = make_document()
        hook = _hook(document, receiver.url)
        old = hook.secret
        new = services.webhook_rotate_secret(webhook=hook).secret
        _add_member(document, "bob")
        deliver(lambda: _states() == ["delivered"], what="the first delivery")
        Webhook.objects.filter(pk=hook.pk).update(
            previous_secret_until=timezone.now() - timedelta(seconds=1)
        )
        _add_member(document, "carol")
        deliver(lambda: _states() == ["delivered"] * 2, what="the second delivery")
    during, after = receiver.received
    now = int(time.time())
    assert during.headers["Tandem-Signature"].count("v1=") == 2
    assert verify(new, during.headers["Tandem-Signature"], during.body, now=now)
    assert verify(old, during.headers["Tandem-Signature"], during.body, now=now)
    assert after.headers["Tandem-Signature"].count("v1=") == 1
    assert verify(new, after.headers["Tandem-Signature"], after.body, now=now)
    assert not verify(old, after.headers["Tandem-Signature"], after.body, now=now)


def test_failing_past_the_retry_limit_fails_and_long_failing_disables_and_notifies(
    deliver: Deliver, settings: Any
) -> None:
    settings.WEBHOOK_RETRY_FOR_SECONDS = 1.0
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 4.0  # well after the first delivery gives up
    with running_receiver(lambda n: Answer(status=503)) as receiver:
        document = make_document()
        hook = _hook(document, receiver.url)
        _add_member(document, "bob")
        deliver(lambda: _states() == ["failed"], what="the delivery to fail")
        assert Webhook.objects.get(pk=hook.pk).active, "disabled before failing long enough"
        settings.WEBHOOK_RETRY_FOR_SECONDS = 60.0  # the next one keeps failing until disabled
        _add_member(document, "carol")
        deliver(lambda: not Webhook.objects.get(pk=hook.pk).active, what="the webhook disabled")
    hook.refresh_from_db()
    assert "failed" in hook.disabled_reason
    (notice,) = Notification.objects.filter(user=document.owner)
    assert notice.type == "webhook.disabled"
    assert notice.data["webhook"] == str(hook.pk)
    assert len(receiver.received) >= 3


def test_document_changed_reports_the_log_in_ranges_without_gaps(deliver: Deliver) -> None:
    with running_receiver() as receiver:
        owner, editor = make_user(username="ann"), make_user(username="ed")
        document = make_document(owner=owner, title="Log")
        append(document.pk, [PendingWrite(u, owner.pk) for u in typed("a", "b")])
        _hook(document, receiver.url, ("document.changed",))  # from now on: not a and b
        documents.member_add(document=document, username="ed", role=Role.EDITOR)
        updates = typed("a", "b", "c", "d", "e")
        append(document.pk, [PendingWrite(updates[2], owner.pk)])
        deliver(lambda: _states() == ["delivered"], what="the first report")
        append(
            document.pk, [PendingWrite(updates[3], editor.pk), PendingWrite(updates[4], owner.pk)]
        )
        deliver(lambda: _states() == ["delivered"] * 2, what="the second report")
    first, second = sorted(
        (r.event for r in receiver.received), key=lambda e: e["data"]["seq_from"]
    )
    assert (first["data"]["seq_from"], first["data"]["seq_to"]) == (3, 3)
    assert (second["data"]["seq_from"], second["data"]["seq_to"]) == (4, 5)
    assert [a["username"] for a in second["data"]["authors"]] == ["ann", "ed"]
    assert second["data"]["update_bytes"] == len(updates[3]) + len(updates[4])
    assert second["document"]["title"] == "Log"
    assert second["type"] == "document.changed"


def test_a_redelivered_event_arrives_again_with_the_same_id(deliver: Deliver) -> None:
    with running_receiver() as receiver:
        document = make_document()
        _hook(document, receiver.url)
        _add_member(document)
        deliver(lambda: _states() == ["delivered"], what="the first delivery")
        (delivery,) = Delivery.objects.all()
        services.delivery_redeliver(delivery_id=delivery.pk)
        assert _states() == ["pending"]
        deliver(lambda: _states() == ["delivered"], what="the redelivery")
    first, second = receiver.received
    assert first.event["id"] == second.event["id"] == str(delivery.pk)
    assert first.body == second.body
    assert Attempt.objects.filter(delivery=delivery).count() == 2


def test_finished_deliveries_leave_the_log_after_the_retention(
    deliver: Deliver, settings: Any
) -> None:
    with running_receiver(lambda n: Answer(status=204)) as receiver:
        document = make_document()
        _hook(document, receiver.url)
        _add_member(document, "bob")
        _add_member(document, "cy")
        deliver(lambda: _states() == ["delivered"] * 2, what="both deliveries")
    old, recent = Delivery.objects.order_by("created_at")
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    pending = Delivery.objects.create(
        webhook=old.webhook,
        type=old.type,
        payload=old.payload,
        created_at=timezone.now() - timedelta(days=40),
        next_attempt_at=timezone.now() + timedelta(days=1),
        give_up_at=timezone.now() + timedelta(days=2),
    )
    settings.WEBHOOK_LOG_RETENTION_DAYS = 30
    deliver(lambda: not Delivery.objects.filter(pk=old.pk).exists(), what="the old one pruned")
    assert set(Delivery.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}
    assert not Attempt.objects.filter(delivery_id=old.pk).exists()
