"""The text of an e-mail as a timeline shows it: HTML turned into text, quoted replies and signatures cut."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

# Elements whose content is never text a person reads.
_SKIPPED = frozenset({"head", "script", "style", "template", "title", "noscript", "svg", "object"})
# Elements that start a new line of text.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
    }
)  # fmt: skip
# What may stand in <head> (HTML5's "in head" insertion mode): any other start tag, or text, ends a head whose
# end tag was left out (`<head><meta charset=utf-8><body><p>...`, valid HTML5), as a browser ends it.
_IN_HEAD = frozenset(
    {"base", "basefont", "bgsound", "link", "meta", "noscript", "script", "style", "template", "title"}
)
# Void elements: no end tag follows, so they never open a skipped or quoted region.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
# Containers mail clients put the quoted earlier message in: Gmail's, Yahoo's, Outlook's reply header,
# Thunderbird's cite prefix, Apple Mail's and most others' <blockquote type="cite">.
_QUOTE_CLASSES = frozenset({"gmail_quote", "yahoo_quoted", "moz-cite-prefix", "gmail_extra"})
_QUOTE_IDS = frozenset({"divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container"})


class _TextExtractor(HTMLParser):
    """Collects the text a reader sees, with line breaks where blocks start and end.

    Tracks open elements by a depth counter per kind of region (skipped, quoted) so an unclosed tag cannot
    swallow the rest of the message: HTML's implied end tags are not modelled, and a region ends at the end
    tag that closes the element that opened it, or at the end of the document. The one exception is <head>,
    whose end tag HTML5 lets a message leave out: what cannot be in it ends it (see _IN_HEAD), as a browser
    ends it (the whole body was read as head, and the message as empty).
    """

    def __init__(self, *, drop_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.drop_quotes = drop_quotes
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, whether it opened a hidden region)
        self.open: Counter[str] = Counter()  # how many of each tag the stack holds: a stray end tag is
        # known at once, not by reading the whole stack
        self.hidden = 0
        self.pre = 0

    def _hides(self, tag: str, attrs: dict[str, str | None]) -> bool:
        if tag in _SKIPPED:
            return True
        if not self.drop_quotes:
            return False
        classes = set((attrs.get("class") or "").lower().split())
        return (
            tag == "blockquote"
            or bool(classes & _QUOTE_CLASSES)
            or (attrs.get("id") or "").lower() in _QUOTE_IDS
        )

    def _head_ends(self) -> None:
        """Ends a <head> that is the innermost open element, as its end tag would."""
        if self.stack and self.stack[-1][0] == "head":
            self.handle_endtag("head")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _IN_HEAD:
            self._head_ends()
        if tag in _VOID:
            self.handle_startendtag(tag, attrs)
            return
        hides = self._hides(tag, dict(attrs))
        self.stack.append((tag, hides))
        self.open[tag] += 1
        if hides:
            self.hidden += 1
        if tag == "pre":
            self.pre += 1
        if tag in _BLOCKS:
            self._newline()
        if tag == "li" and not self.hidden:
            self.parts.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _IN_HEAD:
            self._head_ends()  # `<img/>`, which HTMLParser hands here, not to handle_starttag
        if tag in ("br", "hr"):
            self._newline(force=True)
        elif tag == "img" and not self.hidden:
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if not self.open[tag]:
            return  # a stray end tag
        while self.stack:
            open_tag, hides = self.stack.pop()
            self.open[open_tag] -= 1
            if hides:
                self.hidden -= 1
            if open_tag == "pre":
                self.pre -= 1
            if open_tag == tag:
                break
        if tag in _BLOCKS:
            self._newline()
        elif tag in ("td", "th") and not self.hidden:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][0] == "head" and data.strip():
            self._head_ends()
        if self.hidden:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
        self.parts.append(data)

    def _newline(self, *, force: bool = False) -> None:
        if self.hidden:
            return
        if force or (self.parts and not self.parts[-1].endswith("\n")):
            self.parts.append("\n")

    def text(self) -> str:
        lines = [line.strip() for line in "".join(self.parts).splitlines()]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str, *, drop_quotes: bool = True) -> str:
    """The text of an HTML body as a reader sees it; `drop_quotes` leaves out the quoted earlier message."""
    extractor = _TextExtractor(drop_quotes=drop_quotes)
    extractor.feed(html)
    extractor.close()
    return extractor.text()


# --- Quoted replies and signatures in plain text --------------------------------------------------------

# The line a client writes above the message it quotes. Only forms that end the new text for certain: the
# attribution line of the common clients in the common languages ("On <date>, <name> wrote:"), Outlook's
# "-----Original Message-----" and its header block ("From: <a sender>" followed by "Sent:"/"Date:", see
# _header_block), and the forwarded-message marker. One attribution may be wrapped over two lines.
_ATTRIBUTION = re.compile(
    r"""^(?:
        on\b.{0,300}\bwrote\s*:
      | le\b.{0,300}\ba\s+écrit\s*:
      | am\b.{0,300}\bschrieb\b.{0,100}:
      | el\b.{0,300}\bescribió\s*:
      | il\b.{0,300}\bha\s+scritto\s*:
      | op\b.{0,300}\bschreef\b.{0,100}:
      | em\b.{0,300}\bescreveu\s*:
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_ORIGINAL = re.compile(
    r"^-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|forwarded message"
    r"|mensaje original|messaggio originale)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\*?(?:from|von|de|da|van)\s*:\*?\s", re.IGNORECASE)
# The header block's other lines: when it was sent, and to whom and about what.
# Spanish Outlook writes "Enviado el:", Brazilian "Enviada em:"; a Cc line may come before the Subject.
_HEADER_SENT = re.compile(
    r"^\*?(?:sent|date|gesendet|datum|envoyé|enviad[oa](?:\s+(?:el|em))?|data)\s*:", re.IGNORECASE
)
_HEADER_TO = re.compile(r"^\*?(?:to|an|à|para)\s*:", re.IGNORECASE)
_HEADER_SUBJECT = re.compile(r"^\*?(?:subject|betreff|objet|asunto|assunto)\s*:", re.IGNORECASE)
_HEADER_LINES = 5  # a header block's lines below its From: Sent/Date, To, Cc, Bcc, Subject
# A sender's address: `jane@example.com`, `Jane <jane@example.com>`, `Support [mailto:s@example.com]`.
_ADDRESS = re.compile(r"[^\s<>\[\]:]@[^\s<>\[\]]")
# The signature delimiter of RFC 3676 ("-- " alone on a line; often sent without its space), and the lines
# a phone or a mail app appends on its own.
_SIGNATURE = re.compile(r"^--[ \t]?$")
_DEVICE_LINE = re.compile(
    r"^(?:sent from my\b.{0,60}|sent from (?:outlook|mail|yahoo mail)\b.{0,60}|get outlook for \w+.{0,20}"
    r"|envoyé de mon\b.{0,60}|von meinem\b.{0,60}gesendet)\s*$",
    re.IGNORECASE,
)


def _quoted_below(lines: list[str]) -> list[bool]:
    """For each line, whether it and every line below it is quoted (`>`) or blank: one pass from the end, so
    a message of many quoted lines costs its length, not its length squared."""
    below = [False] * len(lines)
    quoted = True
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i].strip()
        quoted = quoted and (not line or line.startswith(">"))
        below[i] = quoted
    return below


def _underscores(line: str) -> bool:
    """Is this Outlook's line of underscores, drawn above the header block of the message it quotes?"""
    return set(line.strip()) == {"_"}


def _header_block(line: str, above: str, below: list[str]) -> bool:
    """Does this "From:" line start the header block of a quoted message? Its next lines must say when it was
    sent ("Sent:", "Date:"), and it must name a sender's address, or sit below Outlook's line of underscores,
    or be followed by the whole block (a "To:" and a "Subject:" too): a customer writing "From: 10 May" and
    "To: 15 May" lost everything below it."""
    below = [n.strip() for n in below]
    if not any(_HEADER_SENT.match(n) for n in below):
        return False
    if _ADDRESS.search(line) or _underscores(above):
        return True
    return any(_HEADER_TO.match(n) for n in below) and any(_HEADER_SUBJECT.match(n) for n in below)


def _quote_start(lines: list[str]) -> int | None:
    """The index of the first line of the quoted earlier message, or None."""
    quoted_below = _quoted_below(lines)
    for i, raw in enumerate(lines):
        line = raw.strip()
        if _ORIGINAL.match(line):
            return i
        if _ATTRIBUTION.match(line):
            return i
        if i + 1 < len(lines) and _ATTRIBUTION.match(f"{line} {lines[i + 1].strip()}"):
            return i
        if _HEADER_FROM.match(line) and _header_block(
            line, lines[i - 1] if i else "", lines[i + 1 : i + 1 + _HEADER_LINES]
        ):
            # Outlook draws a line of underscores above the header block: it goes too.
            return i - 1 if i and _underscores(lines[i - 1]) else i
        if line.startswith(">") and quoted_below[i]:
            return i  # a trailing block of quoted lines with nothing new below it
    return None


def strip_reply(text: str) -> str:
    """The new part of a message: without the quoted earlier message below it and without the signature.

    Interleaved replies (new text between quoted lines) keep everything but the quoted lines' trailing block;
    when nothing would be left (a message that is all quotation or all signature), the whole text is kept,
    because an empty timeline entry would say less than the truth.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _quote_start(lines)
    if cut is not None:
        lines = lines[:cut]
    for i, raw in enumerate(lines):
        if _SIGNATURE.match(raw):
            lines = lines[:i]
            break
    while lines and (not lines[-1].strip() or _DEVICE_LINE.match(lines[-1].strip())):
        lines.pop()
    stripped = "\n".join(lines).strip()
    return stripped or text.strip()
