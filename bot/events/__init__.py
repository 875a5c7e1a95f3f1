"""Before the queue: what a webhook event asks for, decided by pure functions (no I/O).

One module per event family (`comments`, `labels`, `pulls`, `installations`), each owning a
`gidgethub.routing.Router`, combined once in `router`; the shared decision types in `decisions`; the `/equitr`
command language and its table, one `CommandSpec` row per command, in `commands`. The dispatcher
(`equitr.web.dispatch`) acts on the decisions; the handlers (`equitr.handlers`) do the work after the queue.
"""

from gidgethub.routing import Router

from equitr.events import comments, installations, labels, pulls

router = Router(comments.router, labels.router, pulls.router, installations.router)
# The events the routers (and the dispatcher, for `ping`) act on. The webhook edge keeps the body of these
# only; any other event is checked against its signature while it streams in, and answered "no work".
EVENTS = frozenset(
    {"ping", "issue_comment", "issues", "pull_request"}
    | {"installation", "installation_repositories", "installation_target"}
)

__all__ = ["EVENTS", "router"]
