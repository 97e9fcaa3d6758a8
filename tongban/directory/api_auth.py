"""API authentication: a staff session that passed password and TOTP (CSRF checked on writes)."""

from ninja.errors import HttpError
from ninja.security import SessionAuth
from ninja.utils import check_csrf

CSRF_FAILED = "CSRF校验失败：请在请求头 X-CSRFToken 中带上 Cookie csrftoken 的值（或刷新页面后重试）"


def _verified_staff(request):
    user = request.user
    return user.is_authenticated and user.is_active and getattr(user, "is_verified", lambda: False)()


class StaffSession(SessionAuth):
    """Who is asking is settled first: a request without a verified staff session is a 401 whatever
    its CSRF token; a verified session with a missing or wrong token is a 403 in Chinese."""

    def _get_key(self, request):
        if not _verified_staff(request):
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, CSRF_FAILED)
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request, key):
        return request.user if _verified_staff(request) else None


staff_auth = StaffSession()
