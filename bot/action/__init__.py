"""`equitr action`: the GitHub Action (`actions/action.yml`), run by GitHub's runner as `equitr action`.

GitHub's runner hands us the event as a file (`GITHUB_EVENT_PATH`) and a token (`GITHUB_TOKEN`); there is
no webhook signature to check, because the event comes from GitHub itself. Then:

    issue_comment / issues / pull_request → the webhook server's Dispatcher → jobs → run here, in-process
    schedule / workflow_dispatch          → open issues with the trigger label and no equitr PR → fix jobs

Everything runs in this process with an SQLite store in a temporary directory (or `EQUITR_DB`), so GitHub's
runners are the scale-out. Earlier runs' jobs are read into it from their records on GitHub before a run
with work, and each job's record is written when it ends (`equitr.action.history`). A Markdown summary goes to
`$GITHUB_STEP_SUMMARY`. Exit codes: 0 when the run went through (failed jobs have their own error comments on
GitHub), 1 on a configuration error, or when a job failed and `--fail-on-error` was given.

The modules, from the command line down:

- `main`: the command (`equitr action`, `python -m equitr.action`): errors as one line and a hint;
- `env`: the runner's variables and the Action's inputs, validated into `RunnerEnv` and `Options`;
- `execute`: one run: an event through the Dispatcher, or a manual task, or the backlog;
- `backlog`: the scheduler: which labelled issues and scheduled tasks get a fix job, and each one's budget;
- `run`: what the steps of a run share, running one job, and the job history on GitHub;
- `summary`: the step summary, the step's outputs.
"""
