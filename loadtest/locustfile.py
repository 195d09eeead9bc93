"""Locust: simulated users sending Swedish chat turns to Alice on an open-loop schedule.

Run by the orchestrator (``python -m loadtest``) as
``locust -f loadtest/locustfile.py --headless --host URL``, never imported by it:
Locust monkey-patches the standard library with gevent. Configuration comes from the
environment:

- ``LOADTEST_PLAN``: the plan.json the orchestrator wrote (stages, seed, shares);
- ``LOADTEST_RECORDS``: the NDJSON file every request is appended to;
- ``LOADTEST_START_FILE``: written with the wall-clock time of the first arrival, so
  that the orchestrator injects its faults on the same clock;
- ``LOADTEST_SUMMARY``: written at the end (arrivals issued, still unfinished);
- ``LOADTEST_API_KEY``: the key sent as ``Authorization: Bearer``.

Why not ``constant_pacing`` with one user per slot of rate: a user paced at N seconds
falls behind as soon as an answer takes longer than N, and stopping users to lower the
rate kills their requests mid-flight. Instead a pool of users (`Plan.pool_size`, enough
for the highest rate times the client timeout) takes tickets from one arrival schedule
(`loadtest.schedule`): the rate holds whatever Alice's latency does, and an arrival
that finds no free user is sent late and recorded as such. The shape keeps the pool
alive until every ticket is done, then stops the run.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]  # gevent ships no type hints
from locust import LoadTestShape, constant, events, task
from locust.contrib.fasthttp import FastHttpUser

from loadtest.outcome import ChatResult, parse_chat_response
from loadtest.plan import Plan
from loadtest.prompts import pick_follow_up, pick_question
from loadtest.records import RequestRecord, record_line
from loadtest.schedule import Dispenser, arrival_offsets

_PLAN = Plan.read(Path(os.environ["LOADTEST_PLAN"]))
_DISPENSER = Dispenser(
    arrival_offsets([(s.rate_rps, s.duration_s) for s in _PLAN.stages], seed=_PLAN.seed)
)
_RECORDS = Path(os.environ["LOADTEST_RECORDS"])
_START_FILE = Path(os.environ["LOADTEST_START_FILE"])
_SUMMARY_FILE = Path(os.environ["LOADTEST_SUMMARY"])
_AUTH = {"Authorization": f"Bearer {os.environ['LOADTEST_API_KEY']}"}
# Time for Locust to spawn the pool before the first arrival is due.
_SPAWN_GRACE_S = 3.0
# A conversation ends after this many turns; the user then starts a new one.
_MAX_TURNS = 4
_user_numbers = itertools.count()
_out = _RECORDS.open("a", encoding="utf-8", buffering=1)


def _header(response: Any, name: str) -> str | None:
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get(name)
    except (AttributeError, KeyError):
        return None
    return str(value) if value is not None else None


def _classify(response: Any, exception: BaseException | None, stream: bool) -> ChatResult:
    status = int(getattr(response, "status_code", 0) or 0)
    if status == 0 or (status == 200 and exception is not None):
        # No response, or the body broke off: the client cannot know what was stored.
        code = type(exception).__name__ if exception is not None else "no-response"
        return ChatResult("transport", status, error_code=code)
    try:
        body = response.content
    except Exception as exc:  # geventhttpclient raises a variety of socket errors here
        return ChatResult("transport", status, error_code=type(exc).__name__)
    return parse_chat_response(status, body, stream=stream)


@events.request.add_listener  # type: ignore[untyped-decorator]  # locust: untyped
def _on_request(
    response_time: float,
    response: Any,
    context: dict[str, Any],
    exception: BaseException | None,
    start_time: float | None = None,
    **_kwargs: Any,
) -> None:
    """Append one line per chat request to the records file."""
    ticket = context.get("ticket")
    if ticket is None:
        return
    result = _classify(response, exception, context["stream"])
    latency_s = response_time / 1000.0
    sent = start_time if start_time is not None else time.time() - latency_s
    record = RequestRecord.of(
        result,
        ticket=ticket,
        due=context["due"],
        sent=sent,
        latency_s=latency_s,
        stream=context["stream"],
        follow_up=context["follow_up"],
        guardian_mode=_header(response, "x-guardian-mode"),
    )
    _out.write(record_line(record))
    context["holder"]["result"] = result


@events.test_stop.add_listener  # type: ignore[untyped-decorator]  # locust: untyped
def _on_test_stop(**_kwargs: Any) -> None:
    """Say how the schedule ended, for the report."""
    _SUMMARY_FILE.write_text(
        json.dumps(
            {
                "t0": _DISPENSER.t0,
                "issued": _DISPENSER.issued,
                "unfinished": _DISPENSER.outstanding,
                "exhausted": _DISPENSER.exhausted,
            }
        ),
        encoding="utf-8",
    )
    _out.flush()


class ChatUser(FastHttpUser):
    """A person chatting: a new question, or now and then a follow-up in the same chat."""

    wait_time = constant(0)
    connection_timeout = 5.0
    network_timeout = _PLAN.client_timeout_s

    def on_start(self) -> None:
        """Give each user its own seeded choices."""
        self._rng = random.Random(f"{_PLAN.seed}-{next(_user_numbers)}")
        self._conversation: str | None = None
        self._turns = 0

    def _next_message(self) -> tuple[dict[str, Any], bool]:
        follow_up = (
            self._conversation is not None
            and self._turns < _MAX_TURNS
            and self._rng.random() < _PLAN.followup_share
        )
        body: dict[str, Any]
        if follow_up:
            body = {"text": pick_follow_up(self._rng), "conversation_id": self._conversation}
        else:
            body = {"text": pick_question(self._rng)}
        if self._rng.random() < _PLAN.stream_share:
            body["stream"] = True
        return body, follow_up

    @task
    def chat(self) -> None:
        """Wait for the next arrival ticket, then send its chat turn."""
        ticket = _DISPENSER.take()
        if ticket is None:
            gevent.sleep(0.5)
            return
        index, due = ticket
        try:
            delay = due - time.time()
            if delay > 0:
                gevent.sleep(delay)
            body, follow_up = self._next_message()
            stream = bool(body.get("stream"))
            holder: dict[str, ChatResult] = {}
            headers = {**_AUTH, "Accept": "text/event-stream" if stream else "application/json"}
            self.client.post(
                "/api/chat",
                json=body,
                headers=headers,
                name="/api/chat (stream)" if stream else "/api/chat",
                context={
                    "ticket": index,
                    "due": due,
                    "stream": stream,
                    "follow_up": follow_up,
                    "holder": holder,
                },
            )
            result = holder.get("result")
            if result is not None and result.acknowledged and result.conversation_id:
                if result.conversation_id != self._conversation:
                    self._conversation, self._turns = result.conversation_id, 0
                self._turns += 1
        finally:
            _DISPENSER.done()


class ScheduleShape(LoadTestShape):
    """Keeps the whole user pool up until every arrival of the plan is done."""

    def tick(self) -> tuple[int, float] | None:
        """Start the schedule on the first tick; stop once it is done (or overdue)."""
        now = time.time()
        t0 = _DISPENSER.t0
        if t0 is None:
            t0 = now + _SPAWN_GRACE_S
            _DISPENSER.start(t0)
            _START_FILE.write_text(json.dumps({"t0": t0}), encoding="utf-8")
        elif _DISPENSER.finished() or now > t0 + _PLAN.duration_s + _PLAN.drain_s:
            return None
        return _PLAN.pool_size, float(_PLAN.pool_size)
