"""What every tool shares: the job's checkout it works in (`ToolContext`), what it hands back to the agent
loop (`ToolResult`), its parameter model's base (`Params`) and its description (`ToolSpec`).

The tools depend on the sandbox (paths, bwrap, git), never the other way round.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypedDict, TypeVar

from pydantic import BaseModel, ConfigDict

from equitr.config.settings import NetworkMode
from equitr.sandbox.bwrap import SandboxMode
from equitr.sandbox.limits import Limits
from equitr.sandbox.policy import DEFAULT_POLICY, WritePolicy
from equitr.sandbox.quota import DiskQuota
from equitr.sandbox.setup import SetupState


class Sandboxed(TypedDict):
    """Where and how a job's commands run: the keywords of `run_command` and `run_setup` its context fixes."""

    root: Path
    mode: SandboxMode
    limits: Limits
    ro_paths: tuple[Path, ...] | None
    cancel: threading.Event


@dataclass(frozen=True, slots=True)
class ToolContext:
    """The checkout a job works in, how commands run there, and the caps on what tools return."""

    root: Path
    sandbox_mode: SandboxMode = "bwrap"
    test_command: str = "python -m pytest -q"
    limits: Limits = field(default_factory=Limits)
    ro_paths: tuple[Path, ...] | None = None  # None: the running interpreter and its virtualenv
    max_output_chars: int = 20_000
    setup_command: str = ""  # `fix.setup_command`: run once, with the network, before the first test run
    setup_network: NetworkMode = "auto"  # EQUITR_SETUP_NETWORK: how the setup command reaches the network
    env_dir: Path | None = None  # the job's private environment; None: next to the checkout
    setup: SetupState = field(default_factory=SetupState)
    # What the agent may write (`fix.blocked_paths`, `fix.allow_ci_paths`), checked by the file tool and again
    # when the change is staged.
    policy: WritePolicy = DEFAULT_POLICY
    # What commands may add to the checkout and the job's environment (`limits.max_disk_mb`), for the job.
    disk: DiskQuota = field(default_factory=DiskQuota)
    # Paths (relative, posix) the job's own file tool wrote: the only ones that become the change. Files
    # that tests or the setup wrote never do, whatever they are.
    edited: set[str] = field(default_factory=set)
    # Set when the job is cancelled: a command running in the sandbox is killed (its whole process group).
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def job_env(self) -> Path:
        return self.env_dir or self.root.parent / f"{self.root.name}.env"

    @property
    def job_dirs(self) -> tuple[Path, Path]:
        """Where the job's commands write: the checkout and its environment (the disk quota's scope)."""
        return self.root, self.job_env

    def sandboxed(self) -> Sandboxed:
        """The same checkout, sandbox, limits and cancel for every command of the job (tests and setup)."""
        return Sandboxed(
            root=self.root, mode=self.sandbox_mode, limits=self.limits, ro_paths=self.ro_paths, cancel=self.cancel
        )


@dataclass(frozen=True, slots=True)
class ToolResult:
    """`output` is what the model reads next; `data` carries structured details for the loop and reports."""

    ok: bool
    output: str
    truncated: bool = False
    data: dict[str, Any] = field(default_factory=dict)


def clip(text: str, limit: int) -> tuple[str, bool]:
    """Keep the head and tail of `text` within `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text, False
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters omitted ...]\n{text[-half:]}", True


class Params(BaseModel):
    """The base of every tool's parameter model: unknown keys are refused, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=Params)


@dataclass(frozen=True, slots=True)
class Alias:
    """Tool names a model may use for this tool (space-separated), and the parameters each one implies
    (`read_file` is the file tool with `action="read"`)."""

    names: str
    implied: Mapping[str, str] = field(default_factory=dict)


def _never(params: Any) -> bool:
    return False


def _nothing(params: Any) -> str:
    return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec(Generic[P]):
    """Everything equitr knows about one tool, in the tool's own module (`SPEC`); `equitr.tools.registry`
    collects them, and the prompt, the schema, the interpretation layer and the agent loop read them.

    `schema` is the JSON-schema fragment of the parameters that models see: hand-written rather than
    generated, to stay compact and free of `$ref` (grammar converters such as llama.cpp's and Ollama's handle
    those poorly); a test checks it against `params`.
    """

    name: str
    order: int  # where the tool comes in the prompt, the schema and tool calling (small models see this order)
    params: type[P]
    run: Callable[[P, ToolContext], ToolResult]
    schema: Mapping[str, Any]
    prompt_line: str  # the tool's line under "Tools and parameters:" in the planning prompt
    description: str  # what the tool does, for servers that call tools natively
    takes_description: bool = False  # a natively called step may carry an instruction for a worker
    aliases: tuple[Alias, ...] = ()
    param_aliases: Mapping[str, str] = field(default_factory=dict)  # canonical name → names models use
    enum_aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # param → value → names
    # Python-call syntax (`read_file("a.py", 3)`): the parameter names of positional arguments, by the action
    # the tool name implies ("" when it implies none).
    positional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    infer_keys: frozenset[str] = frozenset()  # parameter names that say "this tool" when a step names none
    raw_text: frozenset[str] = frozenset()  # string parameters whose whitespace is meaning: never stripped
    mutates: Callable[[P], bool] = _never  # the step must run alone (writes, commits, test runs)
    subject: Callable[[P], str] = _nothing  # what the step is about, to judge its relevance
