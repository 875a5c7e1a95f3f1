"""Bounded capture of a command's output: keep the head and the tail, count the rest."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ClippedBuffer:
    """Keeps the first `keep // 2` and the last `keep // 2` bytes written; memory stays O(keep)."""

    keep: int
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0

    def write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.keep // 2 - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            excess = len(self.tail) - (self.keep - self.keep // 2)
            if excess > 0:
                del self.tail[:excess]

    @property
    def clipped(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if not self.clipped:
            return head + tail
        omitted = self.total - len(self.head) - len(self.tail)
        return f"{head}\n[... {omitted} bytes of output omitted ...]\n{tail}"
