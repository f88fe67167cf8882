"""The access gate answers the same whether asked for one user or for many at once."""

from __future__ import annotations

import pytest

from backend.documents.models import Role
from backend.documents.permissions import document_access_snapshots, document_role
from tests.support.factories import make_document, make_user, share


@pytest.mark.django_db
def test_one_user_and_the_bulk_check_agree() -> None:
    owner, editor, viewer, stranger = (make_user() for _ in range(4))
    gone_editor = make_user()
    document = make_document(owner=owner)
    share(document, editor, Role.EDITOR)
    share(document, viewer, Role.VIEWER)
    share(document, gone_editor, Role.EDITOR)
    gone_editor.is_active = False
    gone_editor.save()
    users = [owner, editor, viewer, stranger, gone_editor]

    one_by_one = {user.pk: document_role(user=user, document=document) for user in users}
    bulk = document_access_snapshots(users_by_document={document.pk: {u.pk for u in users}})

    assert one_by_one == {
        owner.pk: Role.OWNER,
        editor.pk: Role.EDITOR,
        viewer.pk: Role.VIEWER,
        stranger.pk: None,
        gone_editor.pk: None,
    }
    snapshot = bulk[document.pk]
    assert {pk: snapshot.roles.get(pk) for pk in one_by_one} == one_by_one
    assert snapshot.inactive == {gone_editor.pk}


@pytest.mark.django_db
def test_a_deactivated_owner_has_no_access() -> None:
    owner = make_user()
    document = make_document(owner=owner)
    owner.is_active = False
    owner.save()
    assert document_role(user=owner, document=document) is None
    bulk = document_access_snapshots(users_by_document={document.pk: {owner.pk}})
    assert bulk[document.pk].roles == {}
