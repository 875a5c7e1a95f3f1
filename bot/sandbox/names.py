"""How a file name looks to the most forgiving filesystem or checkout: the one fold every name check uses."""

from __future__ import annotations

import unicodedata

# Default-ignorable characters that are not in category Cf but that HFS+ and some tools drop.
_IGNORABLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810), *range(0xFE00, 0xFE10)]
)


def fold_name(component: str) -> str:
    """The name a case-insensitive, normalising filesystem would see: `.G\u200bIT. ` → `.git`."""
    text = unicodedata.normalize("NFKC", component)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf" and ord(ch) not in _IGNORABLE)
    text = unicodedata.normalize("NFKC", text.casefold())
    text = text.split(":", 1)[0]  # NTFS alternate data streams: `.git::$INDEX_ALLOCATION`
    return text.rstrip(". ")
