"""Training progress on stderr, for a person at a terminal and for a log file alike.

On a terminal one line is redrawn in place (at most a few times a second); otherwise — a log file,
a cluster job's output — a plain line is written every tenth of the run, never thousands of
carriage-return updates. stdout stays free for the command's result.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Optional, TextIO

__all__ = ["Progress"]


class Progress:
    """``Progress(total).update(step, loss)`` — see the module docstring.

    Args:
        total: steps of the whole run.
        stream: where to write (default ``sys.stderr``).
        interactive: redraw in place; default: whether ``stream`` is a terminal.
    """

    def __init__(self, total: int, stream: Optional[TextIO] = None, interactive: Optional[bool] = None):
        self.total, self.stream = max(1, int(total)), stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._start, self._first, self._last_draw, self._last_tenth = time.time(), None, 0.0, -1

    def update(self, step: int, loss=None) -> None:
        now = time.time()
        if self._first is None:
            self._first = (step, now)
        tenth = 10 * step // self.total
        done = step >= self.total
        if self.interactive and not done and now - self._last_draw < 0.25:
            return
        if not self.interactive and not done and tenth == self._last_tenth:
            return
        self._last_draw, self._last_tenth = now, tenth
        s0, t0 = self._first
        rate = (step - s0) / (now - t0) if now > t0 and step > s0 else 0.0
        eta = f", {((self.total - step) / rate):.0f} s left" if rate and not done else ""
        loss = None if loss is None else float(loss)  # a tensor is read only when a line is drawn
        loss_text = f", loss {loss:.4f}" if loss is not None and math.isfinite(loss) else ""
        speed = f" ({rate:.2f} steps/s{eta})" if rate else ""
        line = f"step {step}/{self.total}{loss_text}{speed}"
        if self.interactive:
            self.stream.write("\r" + line.ljust(72) + ("\n" if done else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
