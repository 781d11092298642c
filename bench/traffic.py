"""Events shaped like contact-centre traffic: mixed channels and types, repeat customers, card numbers."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

WORDS = [
    "bill",
    "invoice",
    "payment",
    "refund",
    "order",
    "delivery",
    "router",
    "outage",
    "account",
    "password",
    "reset",
    "upgrade",
    "plan",
    "roaming",
    "charge",
    "late",
    "fee",
    "thanks",
    "please",
    "hello",
    "help",
    "urgent",
    "tomorrow",
    "yesterday",
    "still",
    "waiting",
    "again",
]
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"]


class Traffic:
    def __init__(self, customers: int = 3000, seed: int = 7, source: str = "/bench/ingest") -> None:
        self.random = random.Random(seed)  # noqa: S311 (test data, not secrets)
        self.customers = customers
        self.source = source
        self.start = datetime(2026, 1, 1, tzinfo=UTC)

    def _subject(self) -> str:
        # A few thousand customers with repeat contacts: a skewed choice favours the regulars.
        n = int(self.customers * self.random.random() ** 2)
        kind = n % 4
        if kind == 0:
            return f"tel:+1555{n:07d}"
        if kind == 1:
            return f"mailto:customer{n}@example.com"
        if kind == 2:
            return f"chat:visitor-{n}"
        return f"social:x:handle{n}"

    def _text(self) -> str:
        words = self.random.choices(WORDS, k=self.random.randint(8, 120))
        if self.random.random() < 0.01:
            words.insert(self.random.randrange(len(words)), f"card {self.random.choice(CARDS)} cvv 123")
        return " ".join(words)

    def event(self, i: int) -> dict:
        subject = self._subject()
        channel = {"tel": "sms", "mailto": "email", "chat": "chat", "social": "social"}[subject.split(":")[0]]
        kind = self.random.random()
        when = (self.start + timedelta(seconds=i * 7)).isoformat().replace("+00:00", "Z")
        base = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": self.source,
            "subject": subject,
            "time": when,
        }
        if subject.startswith("tel:") and kind < 0.3:
            return {
                **base,
                "type": "call.ended",
                "data": {
                    "direction": "inbound",
                    "duration_seconds": self.random.randint(20, 900),
                    "disposition": "resolved",
                    "text": self._text(),
                },
            }
        if kind < 0.6:
            return {**base, "type": "message.received", "data": {"channel": channel, "text": self._text()}}
        if kind < 0.9:
            return {
                **base,
                "type": "message.sent",
                "data": {"channel": channel, "text": self._text(), "agent_id": "agent-7"},
            }
        if kind < 0.97:
            return {
                **base,
                "type": "survey.answered",
                "data": {"channel": channel, "metric": "csat", "score": self.random.randint(1, 5)},
            }
        return {**base, "type": "note.added", "data": {"text": self._text()}}

    def events(self, count: int, offset: int = 0) -> list[dict]:
        return [self.event(offset + i) for i in range(count)]
