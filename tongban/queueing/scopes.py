"""Authorisation scopes of 主题叫号 (see tongban.core.authz).

Tickets belong to the hall's region: staff of the region read them. Writing (calling, serving) needs a
clerk of that region; the services further require that the clerk sits at the calling window of that
hall (`services.ensure_window_clerk`). Which queues a window serves is set by the platform
administrators who manage halls and windows."""

from tongban.core.authz import register

from .models import QueueTicket, TicketLog, WindowQueue

STAFF = frozenset({"clerk", "approver", "catalog_admin", "supervisor", "platform_admin"})
CALLERS = frozenset({"clerk"})
ADMIN = frozenset({"platform_admin"})

register(QueueTicket, region="hall__region__path", read=STAFF, write=CALLERS)
register(TicketLog, region="ticket__hall__region__path", read=STAFF)
register(WindowQueue, region="window__hall__region__path", read=STAFF, write=ADMIN)
