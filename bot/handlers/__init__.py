"""After the queue: one module per command family, doing the job's work on GitHub.

`fix`, `review` (with `reviewing` and `diffmap`), `answer` (ask and plan), `explain`, `control` (help,
status, cancel, cost) and `handlers` (retry, and the handler of every `CommandSpec` row, bound once per
worker). Each handler is `async def (ctx: JobContext, env: WorkEnv) -> Outcome`. What they share is split by
concern: `prepare` (settings, limits, the model), `status` (the live status comment), `task` (the agent's
task from the thread), `render` (PR and plan bodies, pure), `record` (the monitor's view of an agent run).
"""
