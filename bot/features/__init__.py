"""One module per feature, each owning a `gidgethub.routing.Router`; combined once in `router`."""

from gidgethub.routing import Router

from equitr.features import comments, installations, labels, pulls

router = Router(comments.router, labels.router, pulls.router, installations.router)
# The events the routers (and the dispatcher, for `ping`) act on. The webhook edge keeps the body of these
# only; any other event is checked against its signature while it streams in, and answered "no work".
EVENTS = frozenset(
    {"ping", "issue_comment", "issues", "pull_request"}
    | {"installation", "installation_repositories", "installation_target"}
)

__all__ = ["EVENTS", "router"]
