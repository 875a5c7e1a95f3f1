"""The pure webhook decisions of the feature routers (`features/*.decide`) and the loop guards of
`triggers`, on GitHub's own example payloads (`tests/data/webhooks`, from @octokit/webhooks-examples).

Each test starts from a real payload and changes only the fields its rule is about, so a rule that reads a
field GitHub names differently, or nests elsewhere, fails here rather than only in an end-to-end run."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from gidgethub import sansio
from hypothesis import given, settings
from hypothesis import strategies as st

from equitr.errors import MalformedPayload
from equitr.events import comments, installations, labels, pulls, router
from equitr.events.context import Routed
from equitr.events.decisions import Fields, Identity, Ignored, Installation, Notice, Trigger, is_from_bot, parse_time
from tests.fakes.payloads import WebhookExample, iter_payloads, webhook_example, webhook_examples

EQUITR = Identity(app_id=4242, logins=frozenset({"equitr[bot]"}))


def example(event: str, action: str, *, index: int = 0) -> dict[str, Any]:
    """A deep copy of a vendored payload, so a test may change it."""
    found = [e for e in webhook_examples() if e.event == event and e.action == action]
    return copy.deepcopy(found[index].payload())


def comment(body: str) -> dict[str, Any]:
    # 04.created carries an installation id, as every delivery to an App does.
    payload = example("issue_comment", "created", index=3)
    payload["comment"]["body"] = body
    return payload


def decide_comment(payload: dict[str, Any], **kw: Any) -> Any:
    return comments.decide(Fields(payload), delivery_id="d-1", identity=EQUITR, **kw)


# --- issue comments ---------------------------------------------------------------------------------------


def test_the_example_comments_are_not_commands() -> None:
    """None of GitHub's example comments addresses equitr, so none of them is work."""
    payloads = list(iter_payloads("issue_comment"))
    assert len(payloads) == 9
    assert all(decide_comment(p) is None for p in payloads)


def test_a_fix_command_is_a_trigger_with_the_issue_as_it_was() -> None:
    payload = comment("/equitr fix --budget 2 handle the empty list\nmore words")
    trigger = decide_comment(payload)
    assert isinstance(trigger, Trigger)
    assert (trigger.kind, trigger.repo, trigger.number) == ("fix", "Codertocat/Hello-World", 1)
    assert trigger.requester == "Codertocat"
    assert trigger.installation_id == 1
    assert trigger.needs_permission is True
    assert trigger.is_pull_request is False
    assert trigger.comment_id == payload["comment"]["id"]
    assert trigger.dedupe_keys == (f"comment:{payload['comment']['id']}",)
    assert trigger.args["text"] == "handle the empty list"
    assert trigger.args["budget_usd"] == 2.0
    assert trigger.args["title"] == payload["issue"]["title"]
    assert trigger.args["issue_body"] == payload["issue"]["body"]
    assert trigger.args["trigger_at"] == payload["comment"]["created_at"]


def test_a_command_on_a_pull_request_says_so() -> None:
    payload = comment("/equitr review")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"}
    trigger = decide_comment(payload)
    assert isinstance(trigger, Trigger)
    assert (trigger.kind, trigger.is_pull_request) == ("review", True)


def test_a_mistyped_command_gets_a_notice_addressed_to_the_commenter() -> None:
    notice = decide_comment(comment("/equitr fxi"))
    assert isinstance(notice, Notice)
    assert notice.body.startswith("@Codertocat `fxi` is not an equitr command.")
    assert "fix" in notice.body  # the "did you mean"
    assert (notice.repo, notice.number, notice.installation_id) == ("Codertocat/Hello-World", 1, 1)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p["sender"].update(type="Bot"), id="sender-is-a-bot"),
        pytest.param(lambda p: p["sender"].update(login="Equitr[bot]"), id="sender-is-equitr"),
        pytest.param(lambda p: p["comment"]["user"].update(type="Bot"), id="author-is-a-bot"),
        pytest.param(lambda p: p["comment"].update(performed_via_github_app={"id": 4242}), id="via-equitr-app"),
        pytest.param(lambda p: p["comment"].update(body="/equitr fix\n<!-- equitr:status -->"), id="marker"),
    ],
)
def test_loop_guards_keep_bots_and_equitr_out(change: Any) -> None:
    payload = comment("/equitr fix")
    assert isinstance(decide_comment(payload), Trigger)  # the control: the same payload unchanged is work
    change(payload)
    assert decide_comment(payload) is None


def test_another_apps_comment_is_not_mistaken_for_equitr() -> None:
    payload = comment("/equitr fix")
    payload["comment"]["performed_via_github_app"] = {"id": 1}
    assert isinstance(decide_comment(payload), Trigger)


def test_a_comment_older_than_the_remembered_deliveries_is_ignored_with_its_date() -> None:
    payload = comment("/equitr fix")
    made = parse_time(payload["comment"]["created_at"])
    assert made is not None
    assert isinstance(decide_comment(payload, not_before=made), Trigger)  # the boundary itself is not a replay
    ignored = decide_comment(payload, not_before=made + dt.timedelta(seconds=1))
    assert ignored == Ignored(f"the comment was made on {made:%Y-%m-%d}, before the oldest delivery equitr remembers")


def test_a_field_of_the_wrong_type_is_named() -> None:
    payload = comment("/equitr fix")
    payload["issue"]["number"] = "1"
    with pytest.raises(MalformedPayload, match=r"`issue.number` is a string, not a number"):
        decide_comment(payload)


# --- labels --------------------------------------------------------------------------------------------------


def labeled(name: str = "equitr") -> dict[str, Any]:
    payload = example("issues", "labeled")
    payload["label"]["name"] = name
    payload["installation"] = {"id": 77}
    return payload


def test_the_trigger_label_is_a_fix_request() -> None:
    payload = labeled("Equitr")
    trigger = labels.decide(Fields(payload), label="equitr", identity=EQUITR)
    assert isinstance(trigger, Trigger)
    assert (trigger.kind, trigger.repo, trigger.number, trigger.requester) == (
        "fix",
        "Codertocat/Hello-World",
        1,
        "Codertocat",
    )
    assert trigger.needs_permission is True  # labelling takes only triage permission
    assert trigger.installation_id == 77
    assert trigger.label == "Equitr"
    assert trigger.default_branch == "master"
    assert trigger.dedupe_keys == ("label:Codertocat/Hello-World#1:2019-05-15T15:20:18Z",)
    assert trigger.args["via"] == "label"
    assert trigger.args["trigger_at"] == "2019-05-15T15:20:18Z"


def test_the_example_label_is_not_the_trigger_label() -> None:
    """GitHub's examples add `bug`: not equitr's label, so no work and no reply."""
    payload = example("issues", "labeled")
    assert payload["label"]["name"] == "bug"
    assert labels.decide(Fields(payload), label="equitr", identity=EQUITR) is None


def test_without_a_fixed_label_every_label_is_a_candidate_for_the_dispatcher() -> None:
    trigger = labels.decide(Fields(example("issues", "labeled")), label=None, identity=EQUITR)
    assert isinstance(trigger, Trigger)
    assert trigger.label == "bug"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p["issue"].update(state="closed"), id="closed-issue"),
        pytest.param(lambda p: p["sender"].update(type="Bot"), id="bot-sender"),
        pytest.param(lambda p: p["sender"].update(login="equitr[bot]"), id="equitr-sender"),
        pytest.param(lambda p: p.pop("label"), id="no-label"),
    ],
)
def test_labels_that_are_not_work(change: Any) -> None:
    payload = labeled()
    assert isinstance(labels.decide(Fields(payload), label="equitr", identity=EQUITR), Trigger)
    change(payload)
    assert labels.decide(Fields(payload), label="equitr", identity=EQUITR) is None


def test_a_label_added_before_the_remembered_deliveries_is_ignored() -> None:
    payload = labeled()
    later = dt.datetime(2019, 5, 16, tzinfo=dt.UTC)
    ignored = labels.decide(Fields(payload), label="equitr", identity=EQUITR, not_before=later)
    assert ignored == Ignored("the label was added on 2019-05-15, before the oldest delivery equitr remembers")


# --- pull requests ---------------------------------------------------------------------------------------------


PULL_REQUESTS = [e for e in webhook_examples() if e.event == "pull_request"]


@pytest.mark.parametrize("example_", PULL_REQUESTS, ids=[e.id for e in PULL_REQUESTS])
def test_which_pull_request_events_are_reviewed(example_: WebhookExample) -> None:
    """Opened, ready for review, new commits and reopened: reviewed; closed and the rest: not."""
    trigger = pulls.decide(Fields(example_.payload()), identity=EQUITR)
    reviewed = example_.action in {"opened", "ready_for_review", "synchronize", "reopened"}
    assert (trigger is not None) == reviewed
    if trigger is not None:
        assert (trigger.kind, trigger.number, trigger.needs_permission) == ("review", 2, False)


def test_a_review_trigger_names_the_commit_and_where_it_comes_from() -> None:
    payload = example("pull_request", "synchronize")
    sha = payload["pull_request"]["head"]["sha"]
    trigger = pulls.decide(Fields(payload), identity=EQUITR)
    assert isinstance(trigger, Trigger)
    assert trigger.dedupe_keys == (f"review:Codertocat/Hello-World#2@{sha}",)
    assert trigger.is_pull_request is True
    assert trigger.requester == "Codertocat"
    assert trigger.args == {
        "head_sha": sha,
        "auto": True,
        "action": "synchronize",
        "title": payload["pull_request"]["title"],
        "draft": False,
        "fork": False,
    }


def test_a_draft_has_its_own_dedupe_key_so_it_is_reviewed_again_when_ready() -> None:
    payload = example("pull_request", "opened")
    payload["pull_request"]["draft"] = True
    draft = pulls.decide(Fields(payload), identity=EQUITR)
    payload["pull_request"]["draft"] = False
    ready = pulls.decide(Fields(payload), identity=EQUITR)
    assert draft is not None and ready is not None
    assert draft.args["draft"] is True
    assert draft.dedupe_keys[0] == ready.dedupe_keys[0] + ":draft"


@pytest.mark.parametrize(
    ("head_repo", "fork"),
    [({"full_name": "someone/Hello-World"}, True), (None, True), ({"full_name": "Codertocat/Hello-World"}, False)],
    ids=["fork", "deleted-fork", "same-repo"],
)
def test_a_pull_request_from_a_fork_is_marked(head_repo: Any, fork: bool) -> None:
    payload = example("pull_request", "opened")
    payload["pull_request"]["head"]["repo"] = head_repo
    trigger = pulls.decide(Fields(payload), identity=EQUITR)
    assert trigger is not None and trigger.args["fork"] is fork


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p["pull_request"]["user"].update(login="equitr[bot]"), id="opened-by-equitr"),
        pytest.param(lambda p: p["sender"].update(login="EQUITR[bot]"), id="pushed-by-equitr"),
        pytest.param(lambda p: p["pull_request"].update(performed_via_github_app={"id": 4242}), id="via-equitr-app"),
        pytest.param(lambda p: p["pull_request"].update(state="closed"), id="closed"),
    ],
)
def test_equitrs_own_and_closed_pull_requests_are_not_reviewed(change: Any) -> None:
    payload = example("pull_request", "opened")
    assert pulls.decide(Fields(payload), identity=EQUITR) is not None
    change(payload)
    assert pulls.decide(Fields(payload), identity=EQUITR) is None


# --- installations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "action", "expected"),
    [
        ("installation", "created", Installation(957387, "Codertocat", "created", ("Codertocat/Hello-World",))),
        ("installation", "deleted", Installation(2, "octocat", "deleted", ("octocat/Hello-World",))),
        ("installation", "suspend", Installation(16598467, "Codertocat", "suspend", ())),
        ("installation_repositories", "added", Installation(957387, "Codertocat", "added", ("Codertocat/Space",))),
        ("installation_repositories", "removed", Installation(2, "octocat", "removed", ())),
    ],
)
def test_installations_are_recorded_with_their_repositories(event: str, action: str, expected: Installation) -> None:
    assert installations.decide(Fields(webhook_example(event, action).payload())) == expected


def test_an_installation_event_without_an_installation_id_is_nothing() -> None:
    payload = example("installation", "created")
    del payload["installation"]["id"]
    assert installations.decide(Fields(payload)) is None


# --- the loop guard on its own, and the combined router --------------------------------------------------------


def test_is_from_bot_on_every_example_with_a_sender() -> None:
    """Every example's sender is a person except the ones GitHub marks `Bot`; the guard follows `type`."""
    seen_bot = seen_user = False
    for ex in webhook_examples():
        data = ex.payload()
        sender = data.get("sender")
        if not isinstance(sender, dict) or "comment" in data:
            continue
        bot = sender.get("type") == "Bot" or str(sender.get("login", "")).lower() in EQUITR.logins
        seen_bot |= bot
        seen_user |= not bot
        assert is_from_bot(Fields(data), EQUITR) is bot, ex.id
    assert seen_bot and seen_user  # the examples hold both kinds, so the loop checks something


async def test_the_combined_router_sends_a_command_to_the_comments_feature() -> None:
    routed = Routed(identity=EQUITR, trigger_label="equitr")
    event = sansio.Event(comment("/equitr plan"), event="issue_comment", delivery_id="d-2")
    await router.dispatch(event, routed)
    assert [(type(d).__name__, getattr(d, "kind", None)) for d in routed.decisions] == [("Trigger", "plan")]


async def test_the_combined_router_ignores_a_comment_deletion() -> None:
    routed = Routed(identity=EQUITR)
    payload = example("issue_comment", "deleted")
    payload["comment"]["body"] = "/equitr fix"
    await router.dispatch(sansio.Event(payload, event="issue_comment", delivery_id="d-3"), routed)
    assert routed.decisions == []


# --- any field of any type: a decision or a named MalformedPayload, never a crash --------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(value, dict):
        return []
    out = []
    for key, inner in value.items():
        out.append((*prefix, key))
        out += paths(inner, (*prefix, key))
    return out


def decide_any(event: str, payload: dict[str, Any]) -> Any:
    fields = Fields(payload)
    if event == "issue_comment":
        return comments.decide(fields, delivery_id="d", identity=EQUITR)
    if event == "issues":
        return labels.decide(fields, label=None, identity=EQUITR)
    if event == "pull_request":
        return pulls.decide(fields, identity=EQUITR)
    return installations.decide(fields)


CASES = [
    ("issue_comment", comment("/equitr fix --budget 2 please")),
    ("issues", labeled()),
    ("pull_request", example("pull_request", "opened")),
    ("installation_repositories", example("installation_repositories", "added")),
]


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(CASES), pick=st.integers(min_value=0), value=JSON)
def test_a_field_of_any_type_is_a_decision_or_a_named_error(
    case: tuple[str, dict[str, Any]], pick: int, value: Any
) -> None:
    event, original = case
    assert decide_any(event, original) is not None  # the control: unchanged, each is a decision
    payload = copy.deepcopy(original)
    where = paths(payload)
    path = where[pick % len(where)]
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        decide_any(event, payload)
    except MalformedPayload as exc:
        assert exc.message.startswith("`"), exc.message  # names the field
