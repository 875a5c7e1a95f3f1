"""The agent's tools: search, file, git, run. Parameters are validated by the models in `schema`."""
