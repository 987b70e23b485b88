"""Masking an attempt's secret values in everything it hands to the store.

A ``Redactor`` is built from the secret values one attempt read
(``task_secrets.read``) and lives only as long as that attempt.  The
runner and the steps pass every text and JSON value an attempt writes (log
lines, progress, step names, results and errors, ``ctx.state``, the task's
result and error) through it before the store sees it, so a value reaches
neither Redis nor any live viewer.

What counts as an occurrence of a value ``v`` (see docs/secrets.md):

- ``v`` itself, and each line of a value spanning several lines (a PEM key
  printed by a child arrives one line at a time);
- ``v`` as it appears inside a JSON string (``json.dumps``, ASCII-escaped
  or not): a handler that logs a JSON document;
- ``v`` percent-encoded (``quote``, ``quote_plus``; upper or lower-case
  hex): URLs, form bodies;
- ``v`` in base64 (standard and URL-safe alphabets, padded or not), also
  as part of a longer base64 text, at any of its three alignments (as in an
  HTTP Basic ``Authorization`` header, ``base64("user:" + v)``);
- ``v``'s UTF-8 bytes in hex, lower or upper case.

Variants are matched longest first, so a value that is a prefix of another
secret (or of another value's encoding) never leaves the longer one's tail
behind.  Values shorter than ``MIN_SECRET_CHARS`` cannot be masked without
masking common text too; ``task_secrets`` refuses them before an attempt
runs, and a ``Redactor`` ignores them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

# What replaces every occurrence.
MASK = "***"
# Shortest value (and encoded variant) that is masked: a shorter one occurs by
# chance in ordinary text, and masking it everywhere would show what it is.
MIN_SECRET_CHARS = 4

_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _lower_escapes(text: str) -> str:
    return _PERCENT_ESCAPE.sub(lambda m: m.group(0).lower(), text)


def _base64_cores(data: bytes, encode: Callable[[bytes], bytes]) -> set[str]:
    """The characters of ``data``'s base64 that depend on ``data`` alone, when it
    starts 0, 1 or 2 bytes into a longer input: whatever surrounds it, these
    characters appear in that input's base64."""
    cores = set()
    for shift in range(3):
        encoded = encode(b"\0" * shift + data + b"\0\0").decode("ascii")
        first = -(-shift * 8 // 6)  # the first character made of data bits only
        end = (shift + len(data)) * 8 // 6  # past the last one
        cores.add(encoded[first:end])
    return cores


def _base64_variants(data: bytes) -> set[str]:
    found = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(data).decode("ascii")
        found |= {whole, whole.rstrip("=")} | _base64_cores(data, encode)
    return found


def variants(value: str) -> set[str]:
    """Every form of ``value`` that is masked (see the module's docstring)."""
    pieces = {value} | {line.rstrip("\r") for line in value.split("\n")}
    found: set[str] = set()
    for piece in pieces:
        data = piece.encode("utf-8", "surrogatepass")
        percent = {quote(piece, safe=""), quote_plus(piece, safe="")}
        found |= {piece, json.dumps(piece)[1:-1], json.dumps(piece, ensure_ascii=False)[1:-1]}
        found |= percent | {_lower_escapes(p) for p in percent}
        found |= _base64_variants(data)
        hexed = binascii.hexlify(data).decode("ascii")
        found |= {hexed, hexed.upper()}
    return {v for v in found if len(v) >= MIN_SECRET_CHARS}


class Redactor:
    """Replaces every occurrence of an attempt's secret values by ``MASK``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in values:
            if len(value) >= MIN_SECRET_CHARS:
                forms |= variants(value)
        # Longest first: at each place the longest form wins (a value that is a
        # prefix of another secret leaves none of the longer one behind).
        self._forms = sorted(forms, key=lambda f: (-len(f), f))
        self._pattern = re.compile("|".join(map(re.escape, self._forms))) if forms else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        """``text`` with every occurrence masked.  Repeated until nothing matches:
        a mask next to the text around it could spell a value made of ``*``s."""
        if self._pattern is None:
            return text
        while True:
            masked = self._pattern.sub(MASK, text)
            if masked == text:
                return masked
            text = masked

    def value(self, value: Any) -> Any:
        """A JSON value with every string in it masked (object keys too); a number
        that spells a secret becomes the mask."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value if self.text(str(value)) == str(value) else MASK
        return value

    def cut_end(self, text: str) -> str:
        """``text``, which was cut off, with a fragment at its end that begins a
        secret's form masked too: what followed it is gone, so nothing can tell
        whether it was the rest of the secret."""
        text = self.text(text)
        size = max((self._fragment(text, form) for form in self._forms), default=0)
        return text[:-size] + MASK if size else text

    @staticmethod
    def _fragment(text: str, form: str) -> int:
        """Length of the longest proper prefix of ``form`` that ``text`` ends with."""
        for size in range(min(len(form) - 1, len(text)), 0, -1):
            if text.endswith(form[:size]):
                return size
        return 0
