"""Structural guarantees behind "one authorisation filter per model serves every read path"."""

import pytest
from django.apps import apps
from django.contrib import admin

from tongban.core import authz
from tongban.core.admin_base import ScopedAdmin
from tongban.core.authz import ScopedQuerySet

# Admins that read models without a region: each has its own single filter function.
UNSCOPED_ADMINS = {
    "core.auditentry": "tongban.core.audit.visible_entries", "core.holidayyear": "public calendar",
    "applicants.applicant": "tongban.applicants.admin.visible_to_admin", "applicants.outboundsms": "tongban.applicants.admin.visible_to_admin",
    # Platform nodes and their messages belong to no region: platform administrators only.
    **{f"exchange.{m}": "tongban.exchange.admin._platform_admin" for m in ("node", "outboxmessage", "inboxmessage", "rejection")},
    # Peers' trusted-issuer lists (certificate_trust_sync) belong to nodes, not regions: the same rule.
    "certificates.peertrustlist": "tongban.exchange.admin._platform_admin",
}


def _tongban_models():
    return [m for m in apps.get_models() if m.__module__.startswith("tongban.")]


def test_every_scoped_manager_has_a_declared_scope():
    for model in _tongban_models():
        if isinstance(model._default_manager.get_queryset(), ScopedQuerySet):
            assert model in authz.REGISTRY, f"{model.__name__} uses ScopedQuerySet but declares no scope in scopes.py"


def test_every_admin_of_a_scoped_model_uses_the_scope():
    for model, model_admin in admin.site._registry.items():
        if not model.__module__.startswith("tongban."):
            continue
        label = model._meta.label_lower
        if label in UNSCOPED_ADMINS:
            continue
        assert model in authz.REGISTRY, f"{label} is in the admin without an authorisation scope"
        assert isinstance(model_admin, ScopedAdmin), f"{label}: its admin must derive from ScopedAdmin"


@pytest.mark.django_db
def test_anonymous_reads_only_public_rows_of_every_model():
    from django.contrib.auth.models import AnonymousUser

    for model, scope in authz.REGISTRY.items():
        qs = authz.filter_queryset(model._default_manager.all(), AnonymousUser())
        if scope.public is None:
            assert not qs.exists(), f"{model.__name__} has no public rows, yet anonymous users see some"
        else:
            str(qs.query)  # the public filter compiles for every model
