"""The console's log file: unexpected errors, with their tracebacks, passwords masked.

The console owns the terminal, so a bug must not print a traceback over it:
the traceback goes to `<user state dir>/log/omega-tui.log` (e.g.
~/.local/state/omega-tui/log/omega-tui.log; rotated at 1 MB, 3 kept, readable
by its owner only) and the screen shows one line pointing at it.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import traceback
from pathlib import Path

from omega_tui.masking import mask_secret_text

LOG_NAME = "omega-tui.log"
MAX_BYTES = 1_000_000
BACKUPS = 3

_logger = logging.getLogger("omega_tui.errors")
_logger.propagate = False   # never to stderr: the terminal belongs to the console


def log_dir() -> Path:
    from omega_tui.config import user_state_dir

    return user_state_dir() / "log"


def log_path() -> Path:
    return log_dir() / LOG_NAME


def _handler() -> logging.Handler | None:
    path = log_path()
    for handler in _logger.handlers:
        if getattr(handler, "baseFilename", None) == str(path):
            return handler
    for handler in list(_logger.handlers):   # the state dir moved (tests): start a new file
        _logger.removeHandler(handler)
        handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                       encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    _logger.addHandler(handler)
    _logger.setLevel(logging.INFO)
    return handler


def log_unexpected(error: BaseException, where: str, *secrets: str | None) -> Path | None:
    """Write `error` and its traceback to the log; the log's path, or None if it cannot be written."""
    if _handler() is None:
        return None
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    _logger.error("unexpected error in %s\n%s", where, mask_secret_text(text, *secrets).rstrip())
    return log_path()
