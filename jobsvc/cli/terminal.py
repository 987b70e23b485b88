"""Text from tasks, made safe to show on a terminal.

Task output, progress messages, step names and error messages are written by
task code and by whatever it runs (the ``shell`` built-in runs commands whose
output nobody checked).  Written raw to a terminal, an escape sequence could
retitle the window, clear the screen, move the cursor to rewrite earlier
lines (a ``completed`` that never was), set the clipboard, or make some
terminals answer back as if the user had typed.  So on a terminal the CLI
shows every control character instead of sending it: C0 controls and DEL in
caret notation as ``cat -v`` does (ESC is ``^[``, BEL ``^G``), C1 controls as
``\\x9b``.  Tab and newline stay (unless the text must stay on one line); a
carriage return that ends a line (CRLF output) is dropped, any other is ``^M``.

Not on a terminal (a pipe, a file) the text goes out exactly as the task
wrote it: scripts reading ``jobsvc tail`` get what ``/tasks/{id}/log`` holds.
"""

from __future__ import annotations

import re

# Every C0 control but tab, DEL, and every C1 control; newline is decided per call.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# A carriage return at the end of a line: CRLF output, not an attempt to overwrite.
_LINE_END_CR = re.compile(r"\r+(?=\n|\Z)")


def neutralise(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control character shown visibly rather than obeyed.

    ``one_line``: newlines are shown too (``^J``), for text the CLI puts on
    one line of its own, such as a progress bar redrawn in place.
    """
    if not one_line:
        text = _LINE_END_CR.sub("", text)
    return _CONTROLS.sub(lambda m: _shown(m.group(), one_line), text)


def _shown(char: str, one_line: bool) -> str:
    code = ord(char)
    if char == "\n" and not one_line:
        return char
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"\\x{code:02x}"


def shown(text: str, on_terminal: bool, *, one_line: bool = False) -> str:
    """Neutralised for a terminal; as it is for a pipe or a file."""
    return neutralise(text, one_line=one_line) if on_terminal else text
