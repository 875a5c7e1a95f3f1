"""One module per feature, each owning a `gidgethub.routing.Router`; combined once in `router`."""

from gidgethub.routing import Router

from bot.features import comments, installations, labels, pulls

router = Router(comments.router, labels.router, pulls.router, installations.router)

__all__ = ["router"]
