"""The web dashboard (docs/dashboard.md): jobs, a job's page, cost and reliability charts, behind sign-in."""

from equitr.web.dashboard.auth import AuthConfig, check_config, config_from
from equitr.web.dashboard.web import create_dashboard

__all__ = ["AuthConfig", "check_config", "config_from", "create_dashboard"]
