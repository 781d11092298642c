"""Sign-in attempts as `make run` serves them: uvicorn decides the address a sign-in is counted under. It
believes `X-Forwarded-For` from the addresses in `FORWARDED_ALLOW_IPS` (by default 127.0.0.1, where a proxy on
the same machine connects from), read from the right to the first address it does not trust; from anywhere
else the connection's own address counts."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode

from tests.e2e import servers
from tests.e2e.test_token_logs import embedded_env, manage, procfile_web

embedded_env = embedded_env  # the fixture, used here too
PASSWORD = "correct horse battery staple"
LIMIT = 5  # THREADLINE_SIGN_IN_FAILURE_LIMIT's default


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a sign-in that works answers 302: keep it


def sign_in(base: str, name: str, password: str, forwarded: str) -> int:
    """Sign in on the desk's page as a browser would (its CSRF token first), `X-Forwarded-For` as given:
    the status of the answer (302 signed in, 200 refused, 429 locked out)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), _Stay)
    page = opener.open(f"{base}/accounts/login/", timeout=20).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urlencode({"username": name, "password": password, "csrfmiddlewaretoken": token}).encode()
    attempt = urllib.request.Request(
        f"{base}/accounts/login/", data=form, headers={"X-Forwarded-For": forwarded}
    )
    try:
        with opener.open(attempt, timeout=20) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def counted_under(env: dict[str, str]) -> str:
    return manage(
        env,
        "shell",
        "-c",
        "from axes.models import AccessAttempt;"
        "print(sorted(AccessAttempt.objects.values_list('ip_address', flat=True)))",
    )


def refused_after_the_limit(base: str, forwarded) -> bool:
    """Ann's wrong passwords, `forwarded(n)` the n-th's X-Forwarded-For: refused once, at the last allowed."""
    statuses = [sign_in(base, "ann", "wrong", forwarded(n)) for n in range(LIMIT)]
    return statuses == [200] * (LIMIT - 1) + [429]


def serve(env: dict[str, str], tmp_path):
    manage(env, "migrate", "--no-input")
    manage(env, "create_user", "ann", "--role", "agent", "--password", PASSWORD)
    port = servers.free_port()
    return f"http://127.0.0.1:{port}", servers.processes({"web": procfile_web(port)}, env, tmp_path)


def test_through_a_proxy_that_appends_the_client_each_sign_in_counts_under_the_clients_address(
    embedded_env, tmp_path
):
    base, running = serve(embedded_env, tmp_path)
    with running:
        servers.wait_ready(base, tmp_path)
        # The client wrote an X-Forwarded-For of its own, new each guess; the proxy appended the address it
        # saw, as nginx's $proxy_add_x_forwarded_for does.
        assert refused_after_the_limit(base, lambda n: f"192.0.2.{n}, 198.51.100.4")
        assert sign_in(base, "ann", PASSWORD, "192.0.2.99, 198.51.100.4") == 429
        # Someone guessing at the name from elsewhere does not lock its person out.
        assert sign_in(base, "ann", PASSWORD, "203.0.113.20") == 302
    assert counted_under(embedded_env) == "['198.51.100.4']"


def test_from_an_address_uvicorn_is_not_told_to_trust_the_header_is_not_believed(embedded_env, tmp_path):
    env = {**embedded_env, "FORWARDED_ALLOW_IPS": "10.0.0.2"}  # the proxy is elsewhere: not this loopback
    base, running = serve(env, tmp_path)
    with running:
        servers.wait_ready(base, tmp_path)
        assert refused_after_the_limit(base, lambda n: f"192.0.2.{n}")
        assert sign_in(base, "ann", PASSWORD, "203.0.113.20") == 429
    assert counted_under(env) == "['127.0.0.1']"
