"""The agent's tools, one module each (search, file, git, run), each exporting a `ToolSpec` as `SPEC`: its
parameter model, what runs it, and what models see of it. `registry` collects them; a new tool is one new file."""
