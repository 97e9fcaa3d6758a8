"""Domain errors that every entry point (API, admin, pages) turns into a Chinese 4xx message."""

from django.core.exceptions import ValidationError


class DomainError(Exception):
    status = 400

    def __init__(self, message, details=None, status=None):
        super().__init__(message)
        self.message = message
        self.details = details
        if status:
            self.status = status


class Conflict(DomainError):
    status = 409


class NotFound(DomainError):
    status = 404


def error_messages(exc: ValidationError):
    """Flatten a Django ValidationError into '字段：消息' strings using verbose field names when known."""
    if hasattr(exc, "error_dict"):
        out = []
        for field, errors in exc.error_dict.items():
            for e in errors:
                msg = " ".join(e.messages) if hasattr(e, "messages") else str(e)
                out.append(msg if field == "__all__" else f"{getattr(exc, 'labels', {}).get(field, field)}：{msg}")
        return out
    return list(exc.messages)
