"""A real wheel built at test time, for tests that install a package with pip without any index."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def wheel(directory: Path, value: int = 42) -> Path:
    """A real, minimal wheel of `dep_pkg` 1.0 (pure Python), built the way the wheel spec lays it out."""
    files = {
        "dep_pkg/__init__.py": f"VALUE = {value}\n",
        "dep_pkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: dep-pkg\nVersion: 1.0\n",
        "dep_pkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: equitr-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append("dep_pkg-1.0.dist-info/RECORD,,")
    files["dep_pkg-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "dep_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path
