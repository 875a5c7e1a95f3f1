"""The agent: a supervisor model plans and reviews, worker models carry out steps with tools.

    run → [plan → execute → test → review] × iterations → result

`ledger` records every model call (cost, tokens, time, role) and every interpretation-layer repair; `limits`
holds every limit and is checked in one place (`Guard.check`).
"""
