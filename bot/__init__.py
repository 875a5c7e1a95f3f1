"""equitr: turn GitHub issue and pull-request comments into coding-agent work."""

__version__ = "0.1.0"
