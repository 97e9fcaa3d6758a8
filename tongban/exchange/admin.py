"""Nodes, their keys and the message boxes, for platform administrators only. The boxes are
read-only: a message changes only through the relay, or by the "重新发送" action of a dead letter."""

from django.contrib import admin, messages

from tongban.core import audit, authz
from tongban.core.admin_base import admin_site_has_permission

from . import relay
from .models import InboxMessage, Node, NodeKey, OutboxMessage, Rejection


def _platform_admin(request):
    return admin_site_has_permission(request) and "platform_admin" in authz.roles_of(request.user)


class PlatformAdminOnly:
    def has_module_permission(self, request):
        return _platform_admin(request)

    def has_view_permission(self, request, obj=None):
        return _platform_admin(request)

    def has_add_permission(self, request, *args):
        return _platform_admin(request)

    def has_change_permission(self, request, obj=None):
        return _platform_admin(request)

    def has_delete_permission(self, request, obj=None):
        return False  # messages and keys stay resolvable; nodes are suspended or retired, keys revoked


class ReadOnly(PlatformAdminOnly):
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class NodeKeyInline(PlatformAdminOnly, admin.TabularInline):
    model = NodeKey
    extra = 0
    fields = ["key_id", "algorithm", "public_key", "created_at", "revoked_at"]
    readonly_fields = ["created_at"]


@admin.register(Node)
class NodeAdmin(PlatformAdminOnly, admin.ModelAdmin):
    list_display = ["node_id", "name", "base_url", "status", "is_self", "updated_at"]
    list_filter = ["status", "is_self"]
    search_fields = ["node_id", "name"]
    autocomplete_fields = ["regions"]  # tens of thousands of divisions: searched, never listed
    readonly_fields = ["is_self", "created_at", "updated_at"]
    fields = ["node_id", "name", "base_url", "status", "regions", "is_self", "created_at", "updated_at"]
    inlines = [NodeKeyInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit.record(request.user, "exchange.node.change" if change else "exchange.node.add", obj,
                     f"{'修改' if change else '登记'}平台节点{obj.node_id}（{obj.get_status_display()}）")

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.has_changed():
            audit.record(request.user, "exchange.node.keys", form.instance, f"维护平台节点{form.instance.node_id}的公钥")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["created_at", "receiver", "type", "stream", "seq", "status", "tries", "next_attempt_at", "delivered_at", "result", "short_error"]
    list_filter = ["status", "receiver", "type", "result"]
    search_fields = ["=message_id", "stream"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    actions = ["resend_dead"]
    show_full_result_count = False

    @admin.display(description="最近错误")
    def short_error(self, obj):
        return obj.last_error[:60]

    @admin.action(description="重新发送")
    def resend_dead(self, request, queryset):
        n = relay.resend(queryset.filter(status=OutboxMessage.DEAD).values_list("message_id", flat=True), request.user)
        skipped = queryset.count() - n
        messages.info(request, f"已将{n}条死信消息重新加入发送队列" + (f"；{skipped}条不是死信，未处理" if skipped else ""))


@admin.register(InboxMessage)
class InboxMessageAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["received_at", "sender", "type", "stream", "seq", "status", "applied_at"]
    list_filter = ["status", "sender", "type"]
    search_fields = ["=message_id", "stream"]
    readonly_fields = [f.name for f in InboxMessage._meta.fields]
    show_full_result_count = False


@admin.register(Rejection)
class RejectionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["at", "sender", "type", "message_id", "reason", "remote_addr"]
    list_filter = ["sender", "type"]
    search_fields = ["message_id", "reason"]
    readonly_fields = [f.name for f in Rejection._meta.fields]
    show_full_result_count = False
