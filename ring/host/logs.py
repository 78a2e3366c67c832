"""How an instance's log lines look: text for people (the default) or JSON lines for collectors.

`--log-format json` writes one JSON object per line: {"time" (UTC, ISO 8601 with milliseconds),
"level", "logger", "message"}, plus "exception" (the traceback text) when there is one. The
object holds the formatted message and nothing else of the record: ring's log lines never name a
session id nor hold session data, and this format adds no field that could (no request
arguments, no extras). The level comes from <log-level> (SIGHUP applies a change) unless -v asked
for debug.
"""

from __future__ import annotations

import json
import logging
import time

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry = {"time": f"{stamp}.{int(record.msecs):03d}Z", "level": record.levelname.lower(),
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def use_format(name: str) -> None:
    """Give every handler of the root logger the format `name` (text or json)."""
    formatter = JsonFormatter() if name == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)


def use_level(name: str) -> None:
    """Set the root logger's level by its <log-level> name (debug, info, warning, error)."""
    logging.getLogger().setLevel(getattr(logging, name.upper()))
