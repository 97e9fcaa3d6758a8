"""Simplified Chinese is the source text; Traditional Chinese is produced with OpenCC on the way out,
and an elder mode (长者模式) is a display preference. Both are cookies the applicant toggles."""

import threading

import opencc

SCRIPT_COOKIE, ELDER_COOKIE = "tb_script", "tb_elder"
HANT = "hant"
_local = threading.local()


def _converter(config):
    attr = f"cc_{config}"
    conv = getattr(_local, attr, None)
    if conv is None:
        conv = opencc.OpenCC(config)
        setattr(_local, attr, conv)
    return conv


def to_traditional(text):
    return _converter("s2t").convert(text)


def to_simplified(text):
    """Applicants may type in Traditional; queries are matched in Simplified."""
    return _converter("t2s").convert(text)


def wants_traditional(request):
    return request.COOKIES.get(SCRIPT_COOKIE) == HANT


def display_preferences(request):
    return {"script": HANT if wants_traditional(request) else "hans", "elder_mode": request.COOKIES.get(ELDER_COOKIE) == "1"}


class ScriptMiddleware:
    """Converts HTML pages to Traditional Chinese when the applicant chose it. JSON stays Simplified."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            wants_traditional(request)
            and not getattr(response, "streaming", False)
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith("/admin/")
        ):
            charset = response.charset or "utf-8"
            response.content = to_traditional(response.content.decode(charset)).encode(charset)
            response["Content-Language"] = "zh-Hant"
        return response
