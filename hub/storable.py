"""What the log may hold so that every reader reads it back: key sizes in bytes, a range of times, plain JSON.

PostgreSQL and SQLite disagree about what they take (PostgreSQL refuses NUL in text and JSON and an index
entry over 2,704 bytes, and it stores a time after 9999 that Python cannot read back; SQLite takes all of
it), and an append-only log keeps a bad row forever. So the kernel states one set of limits: ingestion
checks them first, to name each field, and `hub.store.append` checks them again for every writer.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

# The range of event times, after conversion to UTC, that every reader accepts (both ends included).
# Python's datetime ends at 9999-12-31 and PostgreSQL's timestamptz goes far past it, so a time near either
# end of Python's range is stored but cannot be read, or overflows when a reader converts it to a local
# zone. The range leaves centuries of room on both sides for that, and SQLite, which sorts times as text,
# then sorts them like PostgreSQL does.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2199, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
TIME_RANGE = "1970-01-01T00:00:00Z to 2199-12-31T23:59:59.999999Z"

# PostgreSQL refuses a b-tree index entry over 2,704 bytes (a third of an 8 KiB page), whatever the column's
# length in characters. Indexed text is therefore limited in UTF-8 bytes: the log's unique (source, id)
# index holds both (1,024 + 256 bytes, well inside), (stream, stream_version) holds the stream.
MAX_SOURCE_BYTES = 1024
MAX_ID_BYTES = 256
MAX_TYPE_BYTES = 256
MAX_SUBJECT_BYTES = 1024
MAX_STREAM_BYTES = 256

# Objects and arrays nest at most this deep: JSON bodies, event data and metadata. Every reader walks JSON
# recursively (the parser, validation, redaction, the database), so depth is bounded once, here.
MAX_JSON_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")
Path = tuple[str | int, ...]


class Unreadable(ValueError):
    """JSON text that parses but that the hub will not read; `path` leads to where (see the subclasses)."""

    path: Path


class TooDeep(Unreadable):
    """JSON nested deeper than MAX_JSON_DEPTH; `path` leads to the first object or array past the limit."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"nested deeper than {MAX_JSON_DEPTH} levels")
        self.path = path


class RepeatedKey(Unreadable):
    """An object that names one key twice; `path` leads to that key. RFC 8259 leaves the meaning to each
    parser, and parsers differ (Python's keeps the last value, others the first or refuse): a gateway that
    checked one value could pass a body whose other value the hub would act on. So which was meant is not
    guessed."""

    def __init__(self, path: Path) -> None:
        super().__init__("this key is named twice in one object: name each key once")
        self.path = path


def utf8_length(text: str) -> int:
    """The size of `text` in UTF-8 bytes (a lone surrogate counted as the 3 bytes it would take)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored (PostgreSQL refuses NUL; a lone surrogate is not Unicode), or None."""
    if "\x00" in text:
        return "contains NUL (\\u0000), which cannot be stored"
    if not text.isascii() and _SURROGATE.search(text):
        return "contains a lone surrogate (\\ud800-\\udfff), which is not Unicode text"
    return None


# Control and format characters (a line break, an escape, a right-to-left override, a zero-width space, a soft
# hyphen) and line or paragraph separators: invisible, acting or reordering where the text is shown (a page,
# an operator's terminal). But for the zero-width non-joiner and joiner, which Persian and Indic names and
# joined emoji need.
_UNSEEN = frozenset(("Cc", "Cf", "Zl", "Zp"))
_JOINERS = "\u200c\u200d"


def unseen_character(text: str, *, allowed: str = "") -> str | None:
    """The first character of `text` that is not shown as itself (see _UNSEEN), but for the joiners and
    those in `allowed`, or None. For text that is kept to be shown as typed: a name, an operator's reason."""
    return next(
        (c for c in text if unicodedata.category(c) in _UNSEEN and c not in _JOINERS and c not in allowed),
        None,
    )


def time_problem(moment: datetime) -> str | None:
    """Why a time cannot be stored (no offset, or outside the range every reader accepts), or None."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return "must carry a UTC offset"
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_TIME <= utc <= LATEST_TIME:
        return f"must lie from {TIME_RANGE} (after conversion to UTC)"
    return None


def json_problem(value: Any, *, depth: int = MAX_JSON_DEPTH) -> tuple[Path, str] | None:
    """The path to the first value the log cannot store and why, or None if all of `value` can be stored.

    JSON values only (objects with string keys, arrays, strings, finite numbers, booleans, null), strings
    and keys without NUL or lone surrogates, objects and arrays nested at most `depth` levels.
    """
    found = _walk(value, depth)
    if found is None:
        return None
    reversed_path, message = found
    return tuple(reversed(reversed_path)), message


def _walk(value: Any, depth: int) -> tuple[list[str | int], str] | None:
    # Hot: every event's data and metadata pass here on append. Leaves are checked inline (a call per value
    # would double the cost), and the path is built on the way out, so a value that passes allocates none.
    kind = type(value)
    if kind is dict:
        items = value.items()
    elif kind is list:
        items = enumerate(value)
    else:
        problem = _scalar_problem(value)
        return ([], problem) if problem else None
    if depth == 0:
        return [], f"nested deeper than {MAX_JSON_DEPTH} levels"
    for key, item in items:
        if kind is dict and (type(key) is not str or "\x00" in key or not key.isascii()):
            if type(key) is not str:
                return [key], "object keys must be strings"
            if problem := text_problem(key):
                return [key], f"the key {problem}"
        item_kind = type(item)
        if item_kind is str:
            if "\x00" in item or (not item.isascii() and _SURROGATE.search(item)):
                return [key], text_problem(item) or ""
        elif item_kind is dict or item_kind is list:
            found = _walk(item, depth - 1)
            if found is not None:
                found[0].append(key)
                return found
        elif item_kind is not int and item_kind is not bool and (problem := _scalar_problem(item)):
            return [key], problem
    return None


def _scalar_problem(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return text_problem(value)
    if kind is float:
        # inf - inf and nan - nan are nan, and nan != 0: a finite test without a call.
        return "numbers must be finite (1e400 overflows to infinity)" if value - value != 0 else None
    if value is None or kind is bool or kind is int:
        return None
    return f"a {kind.__name__} is not a JSON value"


def field_name(path: Sequence[str | int]) -> str:
    """A path as a dotted field name safe to echo back (NUL and lone surrogates written as escapes)."""
    return ".".join(_printable(str(part)) for part in path)


def _printable(text: str) -> str:
    if text_problem(text) is None:
        return text
    return "".join(f"\\u{ord(c):04x}" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# A JSON string or a structural character: enough to follow nesting without parsing (see `_path_in_text`).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)


def loads(text: str) -> Any:
    """Parse JSON text: NaN and Infinity are refused (ValueError), nesting past MAX_JSON_DEPTH raises TooDeep,
    an object naming a key twice raises RepeatedKey (each with the path to where).

    The standard parser recurses once per level and gives up around a thousand with a RecursionError; that
    becomes TooDeep with the path to where the limit was passed (found by `_path_in_text`, which does not
    recurse). A value that parses is measured (objects and arrays only, so it costs little).
    """
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
            parse_float=_float_as_stored,
        )
    except RecursionError:
        raise TooDeep(_path_in_text(text)) from None
    except _Repeated:
        raise RepeatedKey(_path_in_text(text, repeated_key=True)) from None
    path = _deeper_than(value, MAX_JSON_DEPTH)
    if path is not None:
        raise TooDeep(tuple(reversed(path)))
    return value


def _float_as_stored(text: str) -> float | int:
    """A JSON number written with a fraction or an exponent, as every database of the log reads it back.
    PostgreSQL's jsonb keeps numbers as decimals: a whole number of 1e16 or more (which a float writes with
    an exponent: 1e+23) came back an integer of other digits, and -0.0 came back 0.0, where SQLite gave the
    float back; what an append returned and its inline projections saw then differed from every later read
    and replay. Read here as jsonb gives it, the log holds what every reader reads."""
    value = float(text)
    if value == 0:
        return 0.0
    if abs(value) >= 1e16 and value.is_integer():
        return int(value)
    return value


class _Repeated(ValueError):
    """Raised inside the parser, which cannot say where; `loads` finds the path."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _Repeated
    return value


def _deeper_than(value: Any, depth: int) -> list[str | int] | None:
    """The reversed path to the first object or array nested past `depth` levels, or None."""
    if depth == 0:
        return []
    items = value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    for key, item in items:
        kind = type(item)
        if (kind is dict or kind is list) and (path := _deeper_than(item, depth - 1)) is not None:
            path.append(key)
            return path
    return None


def _path_in_text(text: str, *, repeated_key: bool = False) -> Path:
    """Read without recursion, the path to the first object or array nested past MAX_JSON_DEPTH, or with
    `repeated_key`, to the first key an object names twice (keys compared once decoded, as the parser
    compares them: `"\\u0061"` is `"a"`)."""
    stack: list[list[Any]] = []  # per open container: [kind, key or index, the keys an object has named]
    last_string = ""
    for match in _TOKEN.finditer(text):
        lexeme = match.group()
        if lexeme[0] == '"':
            last_string = lexeme
        elif lexeme in "[{":
            if not repeated_key and len(stack) == MAX_JSON_DEPTH:
                break
            stack.append([lexeme, 0 if lexeme == "[" else "", set()])
        elif lexeme in "]}":
            if stack:
                stack.pop()
        elif lexeme == ":" and stack:
            try:
                key = json.loads(last_string)
            except ValueError:
                key = last_string
            stack[-1][1] = key
            if repeated_key and key in stack[-1][2]:
                break
            stack[-1][2].add(key)
        elif lexeme == "," and stack and stack[-1][0] == "[":
            stack[-1][1] += 1
    return tuple(part for _, part, _ in stack)
