"""Tongban settings. Every knob is an environment variable; see README "Configuration"."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TONGBAN_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "static").mkdir(exist_ok=True)


def env_bool(name, default=False):
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("TONGBAN_DEBUG", True)
SECRET_KEY = os.environ.get("TONGBAN_SECRET_KEY", "tongban-insecure-dev-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("TONGBAN_SECRET_KEY must be set when TONGBAN_DEBUG is off")
ALLOWED_HOSTS = os.environ.get("TONGBAN_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("TONGBAN_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves Swagger UI from its own static files: deployments have no Internet for a CDN
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "django_tasks_db",
    "tongban.core",
    "tongban.directory",
    "tongban.catalog",
    "tongban.applicants",
    "tongban.cases",
    "tongban.exchange",
    "tongban.certificates",
    "tongban.sharing",
    "tongban.cooperation",
    "tongban.bundles",
    "tongban.queueing",
    "tongban.inquiries",
    "tongban.evaluation",
    "tongban.supervision",
    "tongban.portal",
    "tongban.workbench",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tongban.core.middleware.APIErrorBodyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",
    "tongban.core.i18n.ScriptMiddleware",
    "tongban.core.middleware.RetryableConflictMiddleware",
]

ROOT_URLCONF = "tongban.urls"
WSGI_APPLICATION = "tongban.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "tongban" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tongban.core.i18n.display_preferences",
            ],
        },
    },
]

# SQLite in WAL mode under var/ is the embedded default; PostgreSQL is production.
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tongban.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("TONGBAN_CONN_MAX_AGE", "60")))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/staff/login/"

# Lock a staff account (per username) after repeated failures.
AXES_FAILURE_LIMIT = int(os.environ.get("TONGBAN_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("TONGBAN_LOGIN_COOLOFF_HOURS", "0.5"))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
# Per account on purpose: window staff of a hall share one outgoing address.
# models.W040: the cockpit's covering indexes (INCLUDE) are plain indexes on SQLite, which is fine there.
SILENCED_SYSTEM_CHECKS = ["axes.W006", "models.W040"]
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "tongban.directory.auth_views.lockout_response"

OTP_TOTP_ISSUER = "Tongban 通办"

# Transport and browser security. Behind HTTPS (TONGBAN_HTTPS=true): secure cookies, HSTS, redirect.
TONGBAN_HTTPS = env_bool("TONGBAN_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = TONGBAN_HTTPS
SECURE_SSL_REDIRECT = TONGBAN_HTTPS and env_bool("TONGBAN_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if TONGBAN_HTTPS else 0
if os.environ.get("TONGBAN_PROXY_SSL_HEADER"):  # e.g. HTTP_X_FORWARDED_PROTO behind the hall's gateway
    SECURE_PROXY_SSL_HEADER = (os.environ["TONGBAN_PROXY_SSL_HEADER"], "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("TONGBAN_SESSION_HOURS", "8")) * 3600  # one working day at the window
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline scripts anywhere (htmx and the admin load theirs from static files); inline styles remain.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(os.environ.get("TONGBAN_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
WHITENOISE_USE_FINDERS = DEBUG

# Uploads: spreadsheets and template files.
TONGBAN_MAX_UPLOAD_MB = int(os.environ.get("TONGBAN_MAX_UPLOAD_MB", "20"))
DATA_UPLOAD_MAX_MEMORY_SIZE = TONGBAN_MAX_UPLOAD_MB * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_pii": {"()": "tongban.core.masking.MaskPIIFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["mask_pii"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("TONGBAN_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "spiff": {"level": "WARNING"}},
}

# Background work: Django's tasks API on the database backend; `manage.py db_worker` runs them
# (serve.sh starts one beside the web server).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Applicants: SMS sender (a dotted path to a tongban.applicants.sms.Sender subclass). The embedded
# default writes each text to the server log and to the developer mailbox page (/dev/mailbox/, DEBUG only).
TONGBAN_SMS_SENDER = os.environ.get("TONGBAN_SMS_SENDER", "tongban.applicants.sms.LogSender")
TONGBAN_SMS_CODE_MINUTES = int(os.environ.get("TONGBAN_SMS_CODE_MINUTES", "5"))

# Cases: materials upload limit (MB), deadline colours, payment provider, deferred-material due days.
TONGBAN_MATERIAL_MAX_MB = int(os.environ.get("TONGBAN_MATERIAL_MAX_MB", "20"))
TONGBAN_DEADLINE_YELLOW_DAYS = int(os.environ.get("TONGBAN_DEADLINE_YELLOW_DAYS", "2"))
TONGBAN_PAYMENT_PROVIDER = os.environ.get("TONGBAN_PAYMENT_PROVIDER", "tongban.cases.payments.SandboxProvider")
TONGBAN_DEFERRED_DAYS = int(os.environ.get("TONGBAN_DEFERRED_DAYS", "10"))
TONGBAN_RECTIFICATION_DAYS = int(os.environ.get("TONGBAN_RECTIFICATION_DAYS", "15"))  # 差评限期整改（工作日）
TONGBAN_RATING_TOKEN_MINUTES = int(os.environ.get("TONGBAN_RATING_TOKEN_MINUTES", "30"))  # 窗口评价码有效期
TONGBAN_PUBLIC_URL = os.environ.get("TONGBAN_PUBLIC_URL", "http://127.0.0.1:8000")

# Platform nodes and the exchange between them (tongban.exchange). A deployment is one node; the embedded
# default serves every region itself, so every hand-off is local until peers are registered.
TONGBAN_NODE_ID = os.environ.get("TONGBAN_NODE_ID", "local")
TONGBAN_NODE_NAME = os.environ.get("TONGBAN_NODE_NAME", "本地节点")
TONGBAN_NODE_KEY_FILE = Path(os.environ.get("TONGBAN_NODE_KEY_FILE", VAR_DIR / "node_key.json"))
TONGBAN_NODE_SIGNING = os.environ.get("TONGBAN_NODE_SIGNING", "sm2")  # sm2 (SM2/SM3) or ed25519
TONGBAN_EXCHANGE_MAX_TRIES = int(os.environ.get("TONGBAN_EXCHANGE_MAX_TRIES", "12"))
TONGBAN_EXCHANGE_MAX_SKEW_SECONDS = int(os.environ.get("TONGBAN_EXCHANGE_MAX_SKEW_SECONDS", "300"))
# Parallel posts per receiver (streams are split between them); SQLite takes one writer at a time.
TONGBAN_EXCHANGE_LANES = int(os.environ.get("TONGBAN_EXCHANGE_LANES", "1" if DATABASE_URL.startswith("sqlite") else "4"))
TONGBAN_EXCHANGE_TIMEOUT_SECONDS = float(os.environ.get("TONGBAN_EXCHANGE_TIMEOUT_SECONDS", "30"))

# Electronic certificates (tongban.certificates). Issuer keys are generated per department on first use and
# stored encrypted under a key-encryption key (set TONGBAN_CERT_KEK in production; derived from the secret
# key otherwise). TONGBAN_CERT_SIGNER: dotted path of a callable (department) -> Signer (signing server/HSM).
TONGBAN_CERT_SIGNING = os.environ.get("TONGBAN_CERT_SIGNING", "sm2")  # sm2 (SM2/SM3) or ed25519
TONGBAN_CERT_KEK = os.environ.get("TONGBAN_CERT_KEK", "")
TONGBAN_CERT_SIGNER = os.environ.get("TONGBAN_CERT_SIGNER", "")
TONGBAN_VERIFY_PER_HOUR = int(os.environ.get("TONGBAN_VERIFY_PER_HOUR", "600"))  # 公众验真次数/小时/IP
TONGBAN_PRESENTATION_MINUTES = int(os.environ.get("TONGBAN_PRESENTATION_MINUTES", "5"))  # 亮证码有效期
TONGBAN_CONSENT_MINUTES = int(os.environ.get("TONGBAN_CONSENT_MINUTES", "30"))  # 用证授权（同意）有效期
TONGBAN_EPROOF_PER_HOUR = int(os.environ.get("TONGBAN_EPROOF_PER_HOUR", "20"))  # 每人每小时开具电子证明次数
TONGBAN_PEER_HTTP_TIMEOUT = float(os.environ.get("TONGBAN_PEER_HTTP_TIMEOUT", "3"))  # 对端节点名单与状态查询超时（秒）
TONGBAN_PEER_TRUST_REFRESH_MINUTES = int(os.environ.get("TONGBAN_PEER_TRUST_REFRESH_MINUTES", "10"))  # 遇到未知签发密钥时刷新对端名单的间隔
TONGBAN_SM2_BACKEND = os.environ.get("TONGBAN_SM2_BACKEND", "auto")  # auto (system OpenSSL when usable) or gmssl
TONGBAN_FIGURES_REFRESH_DAYS = int(os.environ.get("TONGBAN_FIGURES_REFRESH_DAYS", "35"))  # 驾驶舱定期重算的最近天数
