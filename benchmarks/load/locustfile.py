"""The load test's traffic: agents, managers and selling systems using `patron serve` at once.

Started by benchmarks/load/run.py, which prepares the database, the API tokens and the
fixture file this module reads (`PATRON_LOAD_FIXTURE`). The mix, per user class:

- `Agent` (most users, 1-3 s think time): customer lists with filters, search by name,
  phone or pinyin initials, a customer's 360 (`/customers/{id}` then its timeline), and now
  and then a task created about one of their customers and completed.
- `Manager` (a few): the team's tasks and team-wide customer lists.
- `Ingester` (a few): `POST /api/v1/orders/bulk` batches of new orders for existing customers,
  paced to offer the target rate; every order must be inserted or the request fails. With
  `PATRON_LOAD_INGEST_HOST` they send to that server instead of `--host` (the runner's
  `--ingest-server`: a `patron serve` of their own, so their batches share no interpreter with
  the agents' requests).

Every response must be 2xx with the expected body, otherwise it counts as an error. The
ingested-order totals are written to `PATRON_LOAD_ORDERS` when the run stops.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, constant_throughput, events, task

FIXTURE: dict[str, Any] = json.loads(Path(os.environ["PATRON_LOAD_FIXTURE"]).read_text())
API = "/api/v1"
_agent_turns = itertools.count()
_manager_turns = itertools.count()
_ingester_turns = itertools.count()
_batch_numbers = itertools.count()
ORDERS: dict[str, float] = {"inserted": 0, "existing": 0, "rejected": 0, "batches": 0}
ORDERS_WINDOW: dict[str, float] = {}
# Where the selling systems send their batches: `--host` unless a server of their own is named.
INGEST_HOST = os.environ.get("PATRON_LOAD_INGEST_HOST", "").rstrip("/")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def _pick(tokens: list[str], turn: int) -> str:
    """The account's token for this virtual user: its own while there are enough of them."""
    return tokens[turn % len(tokens)]


def _check(response: Any, *, status: int = 200) -> dict[str, Any] | None:
    """The JSON body of an expected answer; anything else marks the request failed."""
    if response.status_code != status:
        response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
        return None
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        response.failure("the body is not JSON")
        return None
    return body


class Agent(FastHttpUser):
    """A sales agent working through their customers."""

    weight = 10
    wait_time = between(1, 3)

    def on_start(self) -> None:
        agents = FIXTURE["agents"]
        turn = next(_agent_turns)
        self.account = agents[turn % len(agents)]
        self.headers = _bearer(_pick(self.account["tokens"], turn // len(agents)))

    def _get(self, path: str, name: str, **params: Any) -> dict[str, Any] | None:
        with self.client.get(
            f"{API}{path}", params=params, headers=self.headers, name=name, catch_response=True
        ) as response:
            body = _check(response)
            if body is not None:
                response.success()
            return body

    @task(3)
    def list_customers(self) -> None:
        """The customer list with a filter an agent would use."""
        choice = random.randrange(4)
        if choice == 0:
            self._get("/customers", "list: mine by CLV", owner="me", sort="-clv")
        elif choice == 1:
            self._get("/customers", "list: city", city=random.choice(FIXTURE["cities"]))
        elif choice == 2:
            grade = random.choice(FIXTURE["grades"])
            self._get("/customers", "list: grade+warning", grade=grade, has_warning="true")
        else:
            self._get("/customers", "list: churn risk", churn_min="0.6", sort="-churn_risk")

    @task(3)
    def search(self) -> None:
        """Search by name, pinyin initials or the start of a phone number."""
        kind, terms = random.choice(
            [("name", FIXTURE["names"]), ("initials", FIXTURE["initials"]),
             ("phone", FIXTURE["phones"])]
        )  # fmt: skip
        self._get("/customers", f"search: {kind}", q=random.choice(terms))

    @task(4)
    def customer_360(self) -> None:
        """One of the agent's customers and their timeline."""
        customer = random.choice(self.account["customers"])
        if self._get(f"/customers/{customer}", "customer: one") is not None:
            self._get(f"/customers/{customer}/timeline", "customer: timeline")

    @task(1)
    def follow_up(self) -> None:
        """Create a follow-up task about an own customer, then complete it."""
        customer = random.choice(self.account["customers"])
        draft = {"title": f"{FIXTURE['run']} call back", "customer_id": customer}
        with self.client.post(
            f"{API}/tasks",
            json=draft,
            headers=self.headers,
            name="task: create",
            catch_response=True,
        ) as response:
            created = _check(response, status=201)
            if created is None:
                return
            response.success()
        done = {"outcome": "reached", "interaction_kind": "call", "summary": "load test"}
        with self.client.post(
            f"{API}/tasks/{created['id']}/complete",
            json=done,
            headers=self.headers,
            name="task: complete",
            catch_response=True,
        ) as response:
            if _check(response) is not None:
                response.success()


class Manager(FastHttpUser):
    """A team manager looking over the team's work."""

    fixed_count = int(os.environ.get("PATRON_LOAD_MANAGERS", "8"))
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.headers = _bearer(_pick(FIXTURE["manager"], next(_manager_turns)))

    @task
    def team_tasks(self) -> None:
        """The team's open tasks, soonest due first."""
        with self.client.get(
            f"{API}/tasks",
            params={"scope": "team", "status": "open"},
            headers=self.headers,
            name="manager: team tasks",
            catch_response=True,
        ) as response:
            if _check(response) is not None:
                response.success()

    @task
    def team_customers(self) -> None:
        """The team's customers at risk, highest risk first."""
        with self.client.get(
            f"{API}/customers",
            params={"stage": "at_risk", "sort": "-churn_risk"},
            headers=self.headers,
            name="manager: at-risk list",
            catch_response=True,
        ) as response:
            if _check(response) is not None:
                response.success()


def _batch(size: int) -> bytes:
    """A batch of new orders (unique ids for this run) for existing customers."""
    number = next(_batch_numbers)
    prefix = f"{FIXTURE['run']}-{number}-"
    customers = FIXTURE["external_ids"]
    moment = time.strftime("%Y-%m-%dT%H:%M:%S")
    orders = [
        {
            "external_id": f"{prefix}{i}",
            "customer_external_id": random.choice(customers),
            "ordered_at": moment,
            "amount": f"{random.randint(20, 2000)}.{random.randint(0, 99):02d}",
            "channel": "load-test",
        }
        for i in range(size)
    ]
    return json.dumps(orders).encode()


class Ingester(FastHttpUser):
    """A selling system sending its new orders in batches, paced to the offered rate."""

    fixed_count = int(os.environ.get("PATRON_LOAD_INGESTERS", "2"))
    # Each ingester offers batch/s * size orders; a slow server just makes it wait longer.
    wait_time = constant_throughput(float(os.environ.get("PATRON_LOAD_BATCHES_PER_S", "0.5")))

    def on_start(self) -> None:
        token = _pick(FIXTURE["ingest"], next(_ingester_turns))
        self.headers = {**_bearer(token), "Content-Type": "application/json"}

    @task
    def ingest(self) -> None:
        """One batch; every order of it must be stored."""
        size = int(FIXTURE["batch"])
        body = _batch(size)
        with self.client.post(
            f"{INGEST_HOST}{API}/orders/bulk",
            data=body,
            headers=self.headers,
            name="orders: bulk",
            catch_response=True,
        ) as response:
            result = _check(response)
            if result is None:
                return
            if result["inserted"] != size:
                response.failure(f"{result['inserted']} of {size} stored: {result['errors'][:2]}")
                return
            response.success()
        ORDERS["inserted"] += result["inserted"]
        ORDERS["existing"] += result["existing"]
        ORDERS["rejected"] += result["rejected"]
        ORDERS["batches"] += 1
        ORDERS_WINDOW.setdefault("first_done", time.time())
        ORDERS_WINDOW["last_done"] = time.time()


@events.test_start.add_listener
def _started(**_: Any) -> None:
    ORDERS_WINDOW["started"] = time.time()


@events.test_stop.add_listener
def _stopped(**_: Any) -> None:
    ORDERS_WINDOW["stopped"] = time.time()
    target = os.environ.get("PATRON_LOAD_ORDERS")
    if target:
        Path(target).write_text(json.dumps({**ORDERS, **ORDERS_WINDOW}, indent=2))
