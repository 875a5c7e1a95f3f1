"""Task graphs: renumbering, dependency repair, cycles, strict refusal, ready/order/layers."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equitr.errors import PlanError
from equitr.interpret.graph import TaskGraph, build_graph
from equitr.tools.registry import Step
from equitr.tools.run import RunParams


def s(n: int, *deps: int) -> Step:
    return Step(step=n, tool="run", parameters=RunParams(target=f"t{n}"), dependencies=deps)


def shape(graph: TaskGraph) -> list[tuple[int, tuple[int, ...]]]:
    return [(x.step, x.dependencies) for x in graph.steps]


def kinds(graph: TaskGraph) -> list[str]:
    return [k for k, _ in graph.repairs]


def test_valid_plan_is_untouched() -> None:
    g = build_graph([s(1), s(2, 1), s(3, 1), s(4, 2, 3)])
    assert shape(g) == [(1, ()), (2, (1,)), (3, (1,)), (4, (2, 3))]
    assert g.repairs == ()
    assert [[x.step for x in layer] for layer in g.layers()] == [[1], [2, 3], [4]]
    assert [x.step for x in g.order()] == [1, 2, 3, 4]


def test_ready() -> None:
    g = build_graph([s(1), s(2, 1), s(3), s(4, 2, 3)])
    assert [x.step for x in g.ready(set())] == [1, 3]
    assert [x.step for x in g.ready({1})] == [2, 3]
    assert [x.step for x in g.ready({1, 2, 3})] == [4]
    assert g.ready({1, 2, 3, 4}) == []


def test_unknown_and_self_dependencies_dropped() -> None:
    g = build_graph([s(1, 1), s(2, 1, 7, 1)])
    assert shape(g) == [(1, ()), (2, (1,))]
    assert kinds(g) == ["dependency_repaired", "dependency_repaired"]
    assert "unknown step 7" in g.repairs[1][1]


def test_duplicate_numbers_renumbered() -> None:
    # every step numbered 1: a dependency on 1 means the previous step of that number
    g = build_graph([s(1), s(1, 1), s(1, 1)])
    assert shape(g) == [(1, ()), (2, (1,)), (3, (2,))]
    assert kinds(g) == ["step_renumbered"]


def test_duplicate_numbers_with_later_steps() -> None:
    g = build_graph([s(1), s(2, 1), s(2, 1), s(3, 2)])
    assert shape(g) == [(1, ()), (2, (1,)), (3, (1,)), (4, (3,))]


def test_two_cycle_broken_deterministically() -> None:
    g = build_graph([s(1, 2), s(2, 1)])
    assert shape(g) == [(1, (2,)), (2, ())]
    assert kinds(g) == ["dependency_repaired"]
    assert "cycle 1 → 2 → 1" in g.repairs[0][1]
    assert build_graph([s(1, 2), s(2, 1)]).steps == g.steps


def test_long_cycle_and_unaffected_steps() -> None:
    g = build_graph([s(1, 3), s(2, 1), s(3, 2), s(4)])
    # the walk from step 1 reaches 3, then 2, whose dependency on 1 closes the cycle: that edge goes
    assert shape(g) == [(1, (3,)), (2, ()), (3, (2,)), (4, ())]
    assert [x.step for x in g.order()] == [2, 3, 1, 4]
    assert kinds(g) == ["dependency_repaired"]


def test_order_keeps_plan_order_when_possible() -> None:
    g = build_graph([s(1), s(3), s(2, 1)])
    assert [x.step for x in g.order()] == [1, 3, 2]
    g = build_graph([s(1, 2), s(2)])
    assert [x.step for x in g.order()] == [2, 1]


def test_each_repair_names_what_was_wrong() -> None:
    assert "cycle 1 → 2 → 1" in build_graph([s(1, 2), s(2, 1)]).repairs[0][1]
    assert "dependency on unknown step 9 dropped" in build_graph([s(1, 9)]).repairs[0][1]
    assert "duplicate step numbers" in build_graph([s(1), s(1)]).repairs[0][1]
    assert build_graph([s(1), s(2, 1)]).repairs == ()


def test_graph_rejects_duplicate_numbers_when_made_by_hand() -> None:
    with pytest.raises(PlanError):
        TaskGraph((s(1), s(1)))


def test_hand_made_cycle_is_refused_by_order() -> None:
    with pytest.raises(PlanError):
        TaskGraph((s(1, 2), s(2, 1))).order()


def test_empty_plan() -> None:
    g = build_graph([])
    assert g.steps == () and g.order() == [] and g.layers() == [] and g.ready(set()) == []


def test_long_chain_does_not_recurse() -> None:
    steps = [s(1)] + [s(i, i - 1) for i in range(2, 3000)]
    steps[0] = s(1, 2999)  # one big cycle
    g = build_graph(steps)
    assert len(g.order()) == 2999


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 12), st.lists(st.integers(-2, 14), max_size=5)),
        max_size=12,
    )
)
def test_any_plan_becomes_a_valid_graph(raw: list[tuple[int, list[int]]]) -> None:
    steps = [Step(step=n, tool="run", parameters=RunParams(), dependencies=tuple(d)) for n, d in raw]
    g = build_graph(steps)
    numbers = [x.step for x in g.steps]
    assert len(set(numbers)) == len(numbers) == len(raw)
    for x in g.steps:
        assert x.step not in x.dependencies
        assert set(x.dependencies) <= set(numbers)
    order = [x.step for x in g.order()]
    assert sorted(order) == sorted(numbers)
    seen: set[int] = set()
    by_number = {x.step: x for x in g.steps}
    for n in order:
        assert set(by_number[n].dependencies) <= seen
        seen.add(n)
    assert sorted(x.step for x in itertools.chain.from_iterable(g.layers())) == sorted(numbers)
    # a valid plan is a fixed point: nothing more to repair
    again = build_graph(g.steps)
    assert again.steps == g.steps and again.repairs == ()


def test_renumbering_names_the_unknown_dependency() -> None:
    g = build_graph([s(1), s(2, 1), s(2, 5)])
    assert shape(g) == [(1, ()), (2, (1,)), (3, ())]
    assert g.repairs == (
        ("step_renumbered", "duplicate step numbers; steps renumbered 1..n in plan order"),
        ("dependency_repaired", "step 3 (was 2): dependency on unknown step 5 dropped"),
    )
