"""Django settings for Threadline: every value comes from the environment through one django-environ `env`."""

import math
import os
import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# A local .env is optional; production sets real environment variables. Read first: every setting below,
# THREADLINE_VAR_DIR too, may come from it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

env = environ.Env()
# Local state of the embedded defaults (SQLite file, file-system broker, static cache) lives here.
VAR_DIR = Path(env.str("THREADLINE_VAR_DIR", default=str(BASE_DIR / "var")))
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)


# The longest a duration setting may be: ten years. Past a few thousand, `now + timedelta(...)` leaves the
# calendar, and every request that adds it to a time would fail.
MOST_SECONDS = 10 * 365 * 86400
MOST_HOURS = MOST_SECONDS / 3600


def _number(
    kind: type, name: str, default: float, *, least: float, above: bool = False, most: float | None = None
):
    """A number from the environment, or the default; anything else stops the process naming the variable
    (`least`: the smallest allowed; `above`: it must be more than that; `most`: the largest allowed)."""
    raw = _raw(name)
    if not raw:
        return default
    return _checked(kind, name, raw, least=least, above=above, most=most)


def _raw(name: str) -> str:
    return os.environ.get(name, "").split("#", 1)[0].strip()  # `5  # seconds` in .env keeps its comment


def _queue_name(name: str, default: str) -> str:
    """A broker's queue name; empty: the default. RabbitMQ keeps names starting `amq.` to itself, and any
    character but these would only be a slip."""
    raw = _raw(name) or default
    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,200}", raw) or raw.startswith("amq."):
        raise ImproperlyConfigured(
            f"{name} must be 1 to 200 letters, digits, '.', '-', '_' or ':', not starting with 'amq.',"
            f" not {raw!r}"
        )
    return raw


def _numbers(kind: type, name: str, default: list[float], *, least: float, most: float | None = None):
    """A comma-separated list of numbers, each checked as `_number` checks one; empty: the default."""
    raw = _raw(name)
    if not raw:
        return default
    return [_checked(kind, name, item.strip(), least=least, most=most) for item in raw.split(",")]


def _checked(
    kind: type, name: str, raw: str, *, least: float, above: bool = False, most: float | None = None
):
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if (
        value is None
        or not math.isfinite(value)
        or value < least
        or (above and value == least)
        or (most is not None and value > most)
    ):
        bound = f"more than {least:g}" if above else f"at least {least:g}"
        if most is not None:
            bound += f" and at most {most:.0f}"
        what = "a whole number" if kind is int else "a number"
        raise ImproperlyConfigured(f"{name} must be {what} {bound}, not {raw!r}")
    return value


DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The development key only ever signs sessions of the local admin; production must set its own.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="threadline-development-key-not-for-production")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])

INSTALLED_APPS = [
    # Before django.contrib.auth: its createsuperuser replaces Django's (of two commands of one name, Django
    # runs the one of the app listed first), checking names as create_user does.
    "interactions.people",
    "django.contrib.admin",
    "django.contrib.auth",
    "axes",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "hub",
    "interactions",
    "interactions.placement",
    "interactions.reachability",
    "interactions.nba",
    "interactions.analytics",
    "interactions.followups",
    "interactions.connections",
    "interactions.desk",
    "channels_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "interactions.api.bodies.ChunkedBodies",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------
# Embedded default: SQLite under var/. WAL lets readers run beside the one writer, the busy timeout makes a
# second writer wait instead of failing, and IMMEDIATE transactions take the write lock at BEGIN, so two
# processes (web and Celery worker) never deadlock upgrading a read lock ("database is locked").
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'threadline.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    # Tests run on a file, not Django's shared-cache in-memory database: there a reader (the websocket
    # tailer's thread) makes a concurrent writer fail at once with "table is locked" instead of waiting,
    # and WAL does not apply. On a file, tests see the same locking as `make run`. One file per test run (the
    # process id), so two runs in one checkout do not create and destroy each other's database.
    _db.setdefault("TEST", {})["NAME"] = str(VAR_DIR / f"test-threadline-{os.getpid()}.sqlite3")
elif _db["ENGINE"] == "django.db.backends.postgresql":
    if env.bool("DATABASE_POOL", default=False):
        # Django's psycopg pool: needed under ASGI, where each request thread would otherwise hold its own
        # connection (see shared EVENTSTORE-NOTES). Persistent connections and the pool exclude each other.
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": _number(int, "DATABASE_POOL_MIN", default=2, least=0),
            "max_size": _number(int, "DATABASE_POOL_MAX", default=10, least=1),
        }
        _db["CONN_MAX_AGE"] = 0
    else:
        _db["CONN_MAX_AGE"] = _number(int, "DATABASE_CONN_MAX_AGE", default=0, least=0)
    _db["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# People sign in at /accounts/login/ and land on the desk.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "desk"
LOGOUT_REDIRECT_URL = "login"

# Guessing passwords (interactions/people/signin.py): a name that fails to sign in
# THREADLINE_SIGN_IN_FAILURE_LIMIT times from one address is refused there, right password or not, for
# THREADLINE_SIGN_IN_LOCKOUT_MINUTES after its last failure; a success before that starts the count again.
# The address is REMOTE_ADDR as the server hands it over: uvicorn (make run) rewrites it from X-Forwarded-For
# for connections from FORWARDED_ALLOW_IPS (127.0.0.1 by default), nothing else does (README, "Sign-in
# attempts"). Both the desk's and the admin's sign-in.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = _number(int, "THREADLINE_SIGN_IN_FAILURE_LIMIT", default=5, least=1)
AXES_COOLOFF_TIME = timedelta(
    minutes=_number(
        float, "THREADLINE_SIGN_IN_LOCKOUT_MINUTES", default=15.0, least=0, above=True, most=MOST_SECONDS / 60
    )
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A try while refused starts the lockout again, so the Retry-After it is answered with (the whole lockout) is
# true; a guesser who keeps trying stays refused.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
# The address counted is REMOTE_ADDR, as the ASGI server sets it (uvicorn believes X-Forwarded-For only from
# FORWARDED_ALLOW_IPS: README, "Sign-in attempts"). Axes reads these two only if django-ipware is installed,
# which it is not; they keep the same answer should it ever arrive with another package.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
AXES_IPWARE_PROXY_COUNT = None
AXES_USERNAME_CALLABLE = "interactions.people.signin.attempted_name"
AXES_HANDLER = "interactions.people.signin.SignInAttempts"
AXES_LOCKOUT_CALLABLE = "interactions.people.signin.locked_out"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not kept: only failures count
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files straight from the apps' folders, so `make run` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Ingest limits ----------------------------------------------------------------------------------
THREADLINE_MAX_BODY_BYTES = _number(int, "THREADLINE_MAX_BODY_BYTES", default=1024 * 1024, least=1)
THREADLINE_MAX_BATCH = _number(int, "THREADLINE_MAX_BATCH", default=1000, least=1)
# Django refuses bodies above this before our view can answer 413; keep it above our own limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = THREADLINE_MAX_BODY_BYTES + 64 * 1024
# Region used to read phone numbers written without a country code.
THREADLINE_DEFAULT_REGION = env.str("THREADLINE_DEFAULT_REGION", default="US")

# --- Provider connections (interactions/connections, interactions/adapters) ------------------------------
# Keys that seal the provider secrets the hub must hold in clear (Twilio's auth token, Meta's app secret):
# comma-separated, the first seals, all open. Empty: one key derived from SECRET_KEY (see the README).
THREADLINE_SECRETS_KEY = env.list("THREADLINE_SECRETS_KEY", default=[])
# The hub's public base URL (https://hub.example.com), as providers call it. Twilio signs the URL it called,
# so behind a proxy that terminates TLS or rewrites the host, set this; empty: the URL as the request came.
THREADLINE_PUBLIC_URL = env.str("THREADLINE_PUBLIC_URL", default="")
# The largest raw message the inbound e-mail hook takes (the API's other bodies stay within 1 MiB): 25 MB,
# what the common mail services accept. It is parsed as it streams in, never held whole beside its parse.
THREADLINE_EMAIL_MAX_BYTES = _number(int, "THREADLINE_EMAIL_MAX_BYTES", default=25 * 1024 * 1024, least=1)

# A new event continues a customer's open thread active within this many hours (unless its topic differs).
THREADLINE_CONTINUATION_WINDOW_HOURS = _number(
    float, "THREADLINE_CONTINUATION_WINDOW_HOURS", default=72.0, least=0, most=MOST_HOURS
)
# How often Celery beat asks a worker to mark idle the open threads with no activity for that window
# (thread.idled; interactions/threads/idling.py). A lost or doubled tick is harmless.
THREADLINE_IDLE_TICK_SECONDS = _number(
    float, "THREADLINE_IDLE_TICK_SECONDS", default=60.0, least=0, above=True, most=MOST_SECONDS
)

# First-contact resolution: a thread resolved after one contact counts as resolved at first contact unless,
# within this many days of that resolution, it is reopened or the customer opens another thread on its topic.
# The analytics subscription applies it: after a change, `rebuild_projections` counts the past by it.
THREADLINE_FCR_DAYS = _number(float, "THREADLINE_FCR_DAYS", default=7.0, least=0, most=MOST_HOURS / 24)
# Journeys: a customer's message not answered within this many minutes is a dead-end ("unanswered"); a
# self-service contact followed by an assisted one on the same thread within this many hours bounced. The
# analytics subscription applies both: after a change, `rebuild_projections` counts the past by them.
THREADLINE_RESPONSE_SLA_MINUTES = _number(
    float, "THREADLINE_RESPONSE_SLA_MINUTES", default=60.0, least=0, above=True, most=MOST_HOURS * 60
)
THREADLINE_BOUNCE_HOURS = _number(float, "THREADLINE_BOUNCE_HOURS", default=24.0, least=0, most=MOST_HOURS)

# --- Live subscriptions (websockets) ---
# How often a process re-reads the log without a wake-up: the only wake-up on SQLite; a safety net on
# PostgreSQL, where LISTEN/NOTIFY wakes the tailer at once.
THREADLINE_TAIL_POLL_SECONDS = _number(
    float,
    "THREADLINE_TAIL_POLL_SECONDS",
    default=1.0 if _db["ENGINE"].endswith("postgresql") else 0.05,
    least=0,
    above=True,
    most=MOST_SECONDS,
)
# Events a socket may have waiting; past that the server closes it with 4408 (resume from your position).
THREADLINE_WS_BUFFER = _number(int, "THREADLINE_WS_BUFFER", default=1000, least=1)
# Frames one socket may send: this many a second on average, THREADLINE_WS_FRAME_BURST at once; past that a
# frame gets a `rate_limited` error, and a client that goes on is closed with 1008.
THREADLINE_WS_FRAMES_PER_SECOND = _number(
    float, "THREADLINE_WS_FRAMES_PER_SECOND", default=20.0, least=0, above=True, most=1e6
)
THREADLINE_WS_FRAME_BURST = _number(int, "THREADLINE_WS_FRAME_BURST", default=40, least=1, most=10**6)
# Sockets one token or signed-in person may hold open on one server process; past that, closed with 4429.
THREADLINE_WS_SOCKETS_PER_PRINCIPAL = _number(
    int, "THREADLINE_WS_SOCKETS_PER_PRINCIPAL", default=20, least=1, most=10**6
)
# How often each process asks which of its sockets' tokens were revoked (they are closed with 4401).
THREADLINE_TOKEN_CHECK_SECONDS = _number(
    float, "THREADLINE_TOKEN_CHECK_SECONDS", default=1.0, least=0, above=True, most=MOST_SECONDS
)
# After an agent's last socket closes, how long before they are marked offline.
THREADLINE_PRESENCE_GRACE_SECONDS = _number(
    float, "THREADLINE_PRESENCE_GRACE_SECONDS", default=15.0, least=0, most=MOST_SECONDS
)
# How often Celery beat has a worker mark offline the agents whose sockets all stopped counting more than the
# grace period ago (a dead process closed nothing, the check above found its socket still counting, or that
# check was never enqueued).
THREADLINE_PRESENCE_SWEEP_SECONDS = _number(
    float, "THREADLINE_PRESENCE_SWEEP_SECONDS", default=30.0, least=0, above=True, most=MOST_SECONDS
)

# --- Subscriptions (runner processes) -------------------------------------------------------------------
# A runner renews its lease on each subscription it applies; when a runner dies, another takes its
# subscriptions over once this many seconds have passed without a renewal.
THREADLINE_SUBSCRIPTION_LEASE_SECONDS = _number(
    float, "THREADLINE_SUBSCRIPTION_LEASE_SECONDS", default=5.0, least=0, above=True, most=MOST_SECONDS
)
# How often a runner looks at the log without a wake-up (the append's NOTIFY wakes it on PostgreSQL).
THREADLINE_SUBSCRIPTION_POLL_SECONDS = _number(
    float,
    "THREADLINE_SUBSCRIPTION_POLL_SECONDS",
    default=1.0 if _db["ENGINE"].endswith("postgresql") else 0.2,
    least=0,
    above=True,
    most=MOST_SECONDS,
)

# A runner woken by an append starts its next pass no sooner than this after its previous one: under steady
# traffic a pass applies this interval's events together (the lag grows by this at most).
THREADLINE_SUBSCRIPTION_GATHER_SECONDS = _number(
    float, "THREADLINE_SUBSCRIPTION_GATHER_SECONDS", default=0.02, least=0, most=MOST_SECONDS
)

# A read with `min_position` waits at most this long for its read models to reach it, then answers 503.
THREADLINE_READ_WAIT_SECONDS = _number(
    float, "THREADLINE_READ_WAIT_SECONDS", default=2.0, least=0, most=MOST_SECONDS
)
# Apply subscriptions in place, inside each append's transaction, instead of in runner processes (like
# Celery's task_always_eager). For test runs; production leaves it off and runs `run_subscriptions`.
THREADLINE_SUBSCRIPTIONS_EAGER = env.bool("THREADLINE_SUBSCRIPTIONS_EAGER", default=False)
# An online rebuild replays into UNLOGGED copies (no WAL until just before the swap; emptied, and so started
# afresh, if PostgreSQL restarts after a crash meanwhile). Off: ordinary tables throughout, as a standby that
# must keep the rebuild's progress through a failover needs.
THREADLINE_REBUILD_UNLOGGED = env.bool("THREADLINE_REBUILD_UNLOGGED", default=True)
# For the benchmark: a path prefix; each process then appends to `<prefix>.<pid>` how long every append held
# the global append lock (hub.holds). Empty (the default): nothing is timed or written.
THREADLINE_APPEND_HOLD_LOG = env.str("THREADLINE_APPEND_HOLD_LOG", default="")

# --- Callbacks ---------------------------------------------------------------------------------------------
# When offers may be made, per weekday in the business time zone ("mon-fri 08:00-20:00; sat 09:00-13:00").
# Open all day every day until configured, so a fresh `make run` offers callbacks at any hour.
THREADLINE_BUSINESS_TIMEZONE = env.str("THREADLINE_BUSINESS_TIMEZONE", default="UTC")
THREADLINE_BUSINESS_HOURS = env.str("THREADLINE_BUSINESS_HOURS", default="daily 00:00-24:00")
# When a customer may be called, in their own time zone (used when it is known).
THREADLINE_CUSTOMER_CALLING_HOURS = env.str("THREADLINE_CUSTOMER_CALLING_HOURS", default="daily 08:00-21:00")
# The next best action rules (JSON; see the README). Read once per process and checked at start-up.
THREADLINE_NBA_RULES = env.str(
    "THREADLINE_NBA_RULES", default=str(BASE_DIR / "interactions" / "nba" / "rules.json")
)
# An offer not accepted within this many seconds goes to the next agent.
THREADLINE_CALLBACK_OFFER_SECONDS = _number(
    float, "THREADLINE_CALLBACK_OFFER_SECONDS", default=30.0, least=0, above=True, most=MOST_SECONDS
)
# Waits before each retry after no answer, busy or failed: three retries after 5, 15 and 30 minutes.
THREADLINE_CALLBACK_RETRY_SECONDS = _numbers(
    float, "THREADLINE_CALLBACK_RETRY_SECONDS", default=[300.0, 900.0, 1800.0], least=0, most=MOST_SECONDS
)
# A callback without window_end must be placed within this many hours of its start, or it expires.
THREADLINE_CALLBACK_WINDOW_HOURS = _number(
    float, "THREADLINE_CALLBACK_WINDOW_HOURS", default=24.0, least=0, above=True, most=MOST_HOURS
)
# An accepted callback whose agent reports no outcome ends (callback.expired) this many hours after its
# window ends (the agent is free for other calls again, and the customer's context stops showing it).
THREADLINE_CALLBACK_OUTCOME_GRACE_HOURS = _number(
    float, "THREADLINE_CALLBACK_OUTCOME_GRACE_HOURS", default=2.0, least=0, above=True, most=MOST_HOURS
)
# An accepted callback with no outcome this many minutes after it was accepted raises
# callback.outcome_overdue for supervisors, once per attempt (the expiry above still follows).
THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES = _number(
    float,
    "THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES",
    default=30.0,
    least=0,
    above=True,
    most=MOST_SECONDS / 60,
)
# How often Celery beat asks the workers to look for due callbacks, expired offers and ended windows.
THREADLINE_CALLBACK_TICK_SECONDS = _number(
    float, "THREADLINE_CALLBACK_TICK_SECONDS", default=1.0, least=0, above=True, most=MOST_SECONDS
)
# --- Follow-ups (the closed loop) -------------------------------------------------------------------------
# Which survey answers open a follow-up: a score at or below the metric's maximum. CSAT 1-5 (2: the bottom two
# boxes), NPS 0-10 (6: a detractor), CES 1-7 on the CES 2.0 scale where 7 is "very easy" (2: high effort). A
# metric named with no value (`nps_max=`) opens none; one not named keeps its default.
FOLLOWUP_RULE_DEFAULT = {"csat": 2, "nps": 6, "ces": 2}
_FOLLOWUP_SCALES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}


def _followup_rule(name: str) -> dict[str, int | None]:
    rule: dict[str, int | None] = dict(FOLLOWUP_RULE_DEFAULT)
    raw = _raw(name)
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, equals, value = (p.strip() for p in item.partition("="))
        metric = key.removesuffix("_max")
        if not equals or not key.endswith("_max") or metric not in _FOLLOWUP_SCALES:
            raise ImproperlyConfigured(
                f"{name} is a list such as csat_max=2,nps_max=6,ces_max=2 (empty turns a metric off),"
                f" not {raw!r}"
            )
        low, high = _FOLLOWUP_SCALES[metric]
        rule[metric] = _checked(int, name, value, least=low, most=high) if value else None
    return rule


THREADLINE_FOLLOWUP_RULE = _followup_rule("THREADLINE_FOLLOWUP_RULE")
# A follow-up not closed this many seconds after it opened is recorded as breached (followup.breached).
THREADLINE_FOLLOWUP_SLA_SECONDS = _number(
    float, "THREADLINE_FOLLOWUP_SLA_SECONDS", default=3600.0, least=0, above=True, most=MOST_SECONDS
)
# How often Celery beat asks a worker to record the follow-ups past their SLA.
THREADLINE_FOLLOWUP_TICK_SECONDS = _number(
    float, "THREADLINE_FOLLOWUP_TICK_SECONDS", default=5.0, least=0, above=True, most=MOST_SECONDS
)
# Celery's routine lines about each tick (beat sending it, a worker receiving it, it succeeding) are left out
# of the log unless this is set (config.logfilters.QuietTicks).
THREADLINE_LOG_TICKS = env.bool("THREADLINE_LOG_TICKS", default=False)

# --- REST -------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Machines send a bearer token; people's browsers their session (with CSRF on unsafe requests).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "interactions.api.auth.BearerTokenAuthentication",
        "interactions.api.auth.PersonSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["interactions.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "interactions.api.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Threadline API",
    "DESCRIPTION": "Omnichannel conversation context hub: post CloudEvents, read the log in order.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # JSON Schema 2020-12, as the catalogue's data schemas are written.
    "OAS_VERSION": "3.1.0",
    "COMPONENT_SPLIT_REQUEST": True,
    "PATH_CONVERTER_OVERRIDES": {
        "anyuuid": {"type": "string", "format": "uuid"}
    },  # interactions.api.converters: a UUID in either case
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "interactions.api.openapi.add_components",
    ],
}

# --- Celery -------------------------------------------------------------------------------------------------
# Embedded default: kombu's filesystem transport, a broker that needs no server. Set CELERY_BROKER_URL to a
# redis:// or amqp:// URL in production. The transport ignores the host; naming one keeps kombu from warning
# "No hostname was supplied" in every process's log at each start.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery" / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        # The exchange tables; kombu's default is ./control, i.e. wherever a process was started.
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
# The queue this deployment's tasks go to and its workers (and beat) use: two deployments sharing one broker
# (staging beside production, or the test run's parallel workers) each name their own.
CELERY_TASK_DEFAULT_QUEUE = _queue_name("THREADLINE_CELERY_QUEUE", default="celery")
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # The database says what is due; the tick only asks a worker to look (a lost or doubled tick is harmless).
    "callbacks-dispatch": {
        "task": "interactions.callbacks_dispatch",
        "schedule": THREADLINE_CALLBACK_TICK_SECONDS,
        "kwargs": {"tick": True},
        "options": {"expires": 10 * THREADLINE_CALLBACK_TICK_SECONDS},
    },
    "followups-breach": {
        "task": "interactions.followups_breach",
        "schedule": THREADLINE_FOLLOWUP_TICK_SECONDS,
        "options": {"expires": 10 * THREADLINE_FOLLOWUP_TICK_SECONDS},
    },
    "threads-idle": {
        "task": "interactions.threads_idle",
        "schedule": THREADLINE_IDLE_TICK_SECONDS,
        "options": {"expires": THREADLINE_IDLE_TICK_SECONDS},
    },
    "agents-presence-sweep": {
        "task": "interactions.agent_presence_sweep",
        "schedule": THREADLINE_PRESENCE_SWEEP_SECONDS,
        "options": {"expires": THREADLINE_PRESENCE_SWEEP_SECONDS},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# No bearer token reaches a log line (config/logfilters.py): Django's own lines (a 404 logs its path) go
# through the filter, and so do the development server's request lines, which carry the query string.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # No token and no card number reaches a log line: every handler redacts tokens and masks card numbers.
    "filters": {
        "redact_tokens": {"()": "config.logfilters.RedactTokens"},
        "mask_cards": {"()": "interactions.privacy.logfilters.MaskCardNumbers"},
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_tokens", "mask_cards"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
