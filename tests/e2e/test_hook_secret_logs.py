"""The adapters' URL secrets never reach the real server's log: the e-mail connection's `?secret=` and the
verify token of Meta's handshake, spelled out or percent-encoded, in uvicorn's access log and Django's.

Runs the Procfile's `web` command (uvicorn with config/uvicorn-logging.json, as `make run` does) on embedded
defaults in a scratch directory, as tests/e2e/test_token_logs.py does for bearer tokens.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from tests.e2e import servers
from tests.e2e.test_token_logs import embedded_env, manage, procfile_web

SECRET = "Mail5ecretValue0123456789"
VERIFY = "Verify7okenValue0123456789"
MESSAGE = b"From: jane@example.com\r\nMessage-ID: <log-1@example.com>\r\n\r\nhello\r\n"

embedded_env = embedded_env  # the fixture, used here too


def status_of(url: str, data: bytes | None = None) -> int:
    headers = {"Content-Type": "message/rfc822"} if data else {}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_no_hook_secret_reaches_the_servers_log(embedded_env, tmp_path):
    manage(embedded_env, "migrate", "--no-input")
    manage(embedded_env, "add_connection", "email", "support", "--secret", SECRET)
    manage(embedded_env, "add_connection", "meta", "main", "--app-secret", "app", "--verify-token", VERIFY)
    port = servers.free_port()
    base = f"http://127.0.0.1:{port}"
    mail = f"{base}/hooks/email/support/inbound"

    with servers.processes({"web": procfile_web(port)}, embedded_env, tmp_path):
        servers.wait_ready(base, tmp_path)
        answers = [
            status_of(f"{mail}?secret={SECRET}", MESSAGE),
            status_of(f"{mail}?%73ecret={SECRET}", MESSAGE),
            status_of(f"{mail}?secret%3D{SECRET}", MESSAGE),
            status_of(f"{base}/hooks/email/nobody/inbound?secret={SECRET}", MESSAGE),
            status_of(
                f"{base}/hooks/meta/main/webhook?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=42"
            ),
        ]
        time.sleep(0.5)  # let the last lines reach the file
    log = (tmp_path / "web.log").read_text()

    assert answers == [200, 403, 403, 404, 200]
    assert SECRET[:12] not in log and VERIFY[:12] not in log, log
    for line in (
        '"POST /hooks/email/support/inbound?secret=[redacted] HTTP/1.1" 200',
        '"POST /hooks/email/support/inbound?%73ecret=[redacted] HTTP/1.1" 403',
        '"POST /hooks/email/support/inbound?secret%3D[redacted] HTTP/1.1" 403',
        '"POST /hooks/email/nobody/inbound?secret=[redacted] HTTP/1.1" 404',
        'hub.verify_token=[redacted]&hub.challenge=42 HTTP/1.1" 200',
    ):
        assert line in log, (line, log)
    assert "Logging error" not in log and "Traceback" not in log, log
