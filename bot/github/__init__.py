"""GitHub access over gidgethub + aiohttp: App authentication and tokens, retries, client factories, who may
start work (`permissions`), and the marker comments equitr writes and finds again (`comments`)."""

from equitr.github.auth import InstallationToken, InstallationTokens, app_jwt
from equitr.github.client import app_api, installation_api
from equitr.github.retry import RetryingGitHubAPI

__all__ = [
    "InstallationToken",
    "InstallationTokens",
    "RetryingGitHubAPI",
    "app_api",
    "app_jwt",
    "installation_api",
]
