"""Job handlers that do GitHub work: fix an issue, review a pull request, answer, plan, retry.

Each handler is `async def handle(ctx: JobContext) -> Outcome`, built once per worker by `handlers(env)`;
the decisions and texts they need are pure functions in `render`, `diffmap` and `task`.
"""
