"""Plans as task graphs: `execution_steps` with dependencies, made valid, in a runnable order.

`build_graph` repairs what models get wrong — duplicate step numbers, dependencies on steps that do not
exist or on the step itself, cycles — and records each repair.
The agent loop asks `ready(done)` for the steps it may run now (concurrently) and `order()` for a
sequential order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from equitr.errors import PlanError
from equitr.tools.registry import Step

Note = tuple[str, str]  # (repair kind, detail), the interpretation layer adds the model


@dataclass(frozen=True, slots=True)
class TaskGraph:
    steps: tuple[Step, ...]  # in the plan's order, numbers unique, dependencies valid and acyclic
    repairs: tuple[Note, ...] = ()

    def __post_init__(self) -> None:
        numbers = [s.step for s in self.steps]
        if len(set(numbers)) != len(numbers):
            raise PlanError("step numbers must be unique; build the graph with build_graph()")

    def ready(self, done: set[int]) -> list[Step]:
        """Steps not yet done whose dependencies are all done; they may run concurrently."""
        return [s for s in self.steps if s.step not in done and set(s.dependencies) <= done]

    def layers(self) -> list[list[Step]]:
        """Steps grouped by depth: every step's dependencies lie in earlier layers."""
        out: list[list[Step]] = []
        done: set[int] = set()
        while len(done) < len(self.steps):
            layer = self.ready(done)
            if not layer:  # unreachable for graphs made by build_graph; guards hand-made ones
                raise PlanError("the plan has a dependency cycle")
            out.append(layer)
            done.update(s.step for s in layer)
        return out

    def order(self) -> list[Step]:
        """A topological order that keeps the plan's own order wherever the dependencies allow."""
        out: list[Step] = []
        done: set[int] = set()
        while len(out) < len(self.steps):
            step = next((s for s in self.ready(done)), None)
            if step is None:
                raise PlanError("the plan has a dependency cycle")
            out.append(step)
            done.add(step.step)
        return out


def build_graph(steps: Iterable[Step]) -> TaskGraph:
    items = list(steps)
    notes: list[Note] = []

    numbers = [s.step for s in items]
    if len(set(numbers)) != len(numbers):
        notes.append(("step_renumbered", "duplicate step numbers; steps renumbered 1..n in plan order"))
        items = _renumber(items, notes)

    known = {s.step for s in items}
    cleaned: list[Step] = []
    for s in items:
        keep: list[int] = []
        for d in s.dependencies:
            if d == s.step:
                notes.append(("dependency_repaired", f"step {s.step}: dependency on itself dropped"))
            elif d not in known:
                notes.append(("dependency_repaired", f"step {s.step}: dependency on unknown step {d} dropped"))
            elif d not in keep:
                keep.append(d)
        cleaned.append(s if tuple(keep) == s.dependencies else s.model_copy(update={"dependencies": tuple(keep)}))

    for src, dst, cycle in _back_edges(cleaned):
        path = " → ".join(map(str, cycle))
        notes.append(("dependency_repaired", f"cycle {path}: step {src} no longer waits for step {dst}"))
        cleaned = [
            s.model_copy(update={"dependencies": tuple(d for d in s.dependencies if d != dst)}) if s.step == src else s
            for s in cleaned
        ]

    return TaskGraph(tuple(cleaned), tuple(notes))


def _renumber(items: list[Step], notes: list[Note]) -> list[Step]:
    """Number steps 1..n in plan order; a dependency means the nearest earlier step of that old number
    (models that number every step 1 mean "the previous one"), else the first with it. Dependencies on
    numbers no step has are dropped here, while their old numbers can still be named."""
    out: list[Step] = []
    for i, s in enumerate(items):
        deps: list[int] = []
        for d in s.dependencies:
            earlier = [j for j in range(i) if items[j].step == d]
            anywhere = [j for j in range(len(items)) if items[j].step == d and j != i]
            target = earlier[-1] if earlier else (anywhere[0] if anywhere else None)
            if target is None:
                what = "itself" if d == s.step else f"unknown step {d}"
                notes.append(("dependency_repaired", f"step {i + 1} (was {s.step}): dependency on {what} dropped"))
            elif target + 1 not in deps:
                deps.append(target + 1)
        out.append(s.model_copy(update={"step": i + 1, "dependencies": tuple(deps)}))
    return out


def _back_edges(steps: list[Step]) -> list[tuple[int, int, list[int]]]:
    """Edges (step, dependency) that close a cycle, found by a depth-first walk in plan order.

    Iterative, so a long chain cannot exhaust the recursion limit. Returns each edge with its cycle.
    """
    deps = {s.step: s.dependencies for s in steps}
    state: dict[int, int] = {}  # 1 on the current path, 2 finished
    found: list[tuple[int, int, list[int]]] = []
    for root in deps:
        if root in state:
            continue
        path: list[int] = [root]
        stack: list[tuple[int, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            if i < len(deps[node]):
                stack[-1] = (node, i + 1)
                nxt = deps[node][i]
                if (node, nxt) in {(a, b) for a, b, _ in found}:
                    continue
                if state.get(nxt) == 1:
                    found.append((node, nxt, [*path[path.index(nxt) :], nxt]))
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return found
