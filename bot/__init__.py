"""equitr: turn GitHub issue and pull-request comments into coding-agent work."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The installed distribution's version: from the git tag it was built at (setuptools-scm).
    __version__ = version("equitr")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"
