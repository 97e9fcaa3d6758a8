"""Domain errors that every entry point (API, admin, pages) turns into a Chinese 4xx message."""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


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


def validate(obj, **kwargs):
    """full_clean() for services: errors are keyed by the fields' Chinese names (实施编码, not
    implementation_code), so every entry point shows the person a message they can act on."""
    try:
        obj.full_clean(**kwargs)
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        labels = {f.name: str(f.verbose_name) for f in obj._meta.get_fields() if hasattr(f, "verbose_name")}
        raise ValidationError({labels.get(k, k): v for k, v in exc.error_dict.items()}) from None


def error_messages(exc: ValidationError):
    """Flatten a Django ValidationError into '字段：消息' strings."""
    if hasattr(exc, "error_dict"):
        return [
            msg if field == NON_FIELD_ERRORS else f"{field}：{msg}"
            for field, errors in exc.error_dict.items()
            for e in errors
            for msg in e.messages
        ]
    return list(exc.messages)
