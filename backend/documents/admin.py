from __future__ import annotations

from django.contrib import admin

from backend.documents.models import Document, Membership


class MembershipInline(admin.TabularInline[Membership, Document]):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin[Document]):
    list_display = ["title", "owner", "created_at", "updated_at"]
    search_fields = ["title", "owner__username"]
    raw_id_fields = ["owner"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["document", "user", "role", "created_at"]
    list_filter = ["role"]
    raw_id_fields = ["document", "user"]
