"""Per-client limits of the public endpoints (办件查询, 咨询查询, 取号, anonymous inquiries): a counter per key
in the cache, checked before the work and counted for what the limit is about (a failed guess, a
submission). One mechanism, so every public path limits the same way."""

from django.core.cache import cache

from .errors import DomainError

HOUR = 3600


def check(key, limit, message):
    """Refuse with 429 and `message` once `key` has been counted `limit` times in its window."""
    if cache.get(key, 0) >= limit:
        raise DomainError(message, status=429)


def count(key, window=HOUR):
    """Count one more for `key` (atomic where the cache is: add, else incr)."""
    if not cache.add(key, 1, window):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, window)
