"""The webhook side: the ASGI app and its server, signature checks, the dispatcher, the dashboard; and the
composition root (`services`) that serve, worker and the Action share."""
