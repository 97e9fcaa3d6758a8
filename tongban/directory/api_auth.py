"""API authentication: a staff session that passed password and TOTP (CSRF checked on writes)."""

from ninja.security import SessionAuth


class StaffSession(SessionAuth):
    def authenticate(self, request, key):
        user = request.user
        if user.is_authenticated and user.is_active and getattr(user, "is_verified", lambda: False)():
            return user
        return None


staff_auth = StaffSession()
