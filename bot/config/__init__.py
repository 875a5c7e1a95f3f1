"""Configuration: the server's environment and each repository's `.equitr.toml`.

- `settings`: `Settings`, every environment variable, validated once at start-up.
- `repo`: the `.equitr.toml` sections and their documented keys (`RepoConfig`), `parse` and `load_default`.
- `problems`: what is wrong with a file (`Problem`, `RepoConfigError`), from TOML and pydantic errors.
- `reference`: `reference_rows()`, the table docs/configuration.md is checked against.
- `flags`: `resolve_flags` applies a command's flags within the file's bounds, giving `EffectiveSettings`
  and the agent's `Limits`.
- `fetch`: reading the file from a repository's default branch on GitHub (`fetch_config`, `ConfigCache`).
"""
