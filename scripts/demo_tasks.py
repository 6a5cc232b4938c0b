"""Seeded generators for the demo tasks (pure Python, no dependencies).

Why a generator and not a data set: the demo pool must ship with the package, be reproducible
byte for byte, and owe nothing to external data licences. Each task is templated so that a 135M
model can learn it with a small LoRA, and its target is scored by exact match.

``generate_task(name, n, seed)`` returns a list of ``{"input", "target", "task"}`` dicts.
"""
from __future__ import annotations

import random
from typing import Callable

Example = dict[str, str]

# --------------------------------------------------------------------------- sentiment

_PRODUCTS = [
    "headphones", "blender", "phone case", "laptop", "coffee maker", "backpack", "keyboard", "desk lamp",
    "running shoes", "vacuum cleaner", "camera", "smartwatch", "toaster", "office chair", "e-reader",
    "water bottle", "jacket", "tent", "speaker", "charger",
]
_MOVIES = ["movie", "film", "series", "documentary", "sequel", "thriller", "comedy", "cartoon", "show"]
_POS_ADJ = [
    "excellent", "fantastic", "wonderful", "great", "superb", "brilliant", "delightful", "solid",
    "amazing", "lovely", "outstanding", "impressive", "reliable", "charming", "perfect",
]
_NEG_ADJ = [
    "terrible", "awful", "disappointing", "cheap", "flimsy", "boring", "useless", "dreadful",
    "poor", "broken", "horrible", "mediocre", "annoying", "painful", "clumsy",
]
_POS_VERB = ["love", "adore", "really enjoyed", "would recommend", "am thrilled with", "can't stop using"]
_NEG_VERB = ["hate", "regret buying", "can't stand", "would not recommend", "am fed up with", "returned"]
_POS_DETAIL = {
    "product": [
        "it works exactly as described", "the quality is worth every penny", "it arrived early and well packed",
        "it exceeded my expectations", "the battery lasts for days", "setup took two minutes",
    ],
    "movie": [
        "the acting was moving", "the story kept me hooked", "my whole family enjoyed it",
        "the soundtrack is beautiful", "it exceeded my expectations",
    ],
}
_NEG_DETAIL = {
    "product": [
        "it stopped working after a week", "it broke on the first day", "customer service never answered",
        "it was a waste of money", "the colours faded after one wash", "it feels like a cheap toy",
    ],
    "movie": [
        "the plot made no sense", "the ending was a letdown", "it was a waste of money",
        "I fell asleep halfway through", "the dialogue was painful",
    ],
}
_SENT_PREFIX = [
    "Review: ", "Is this review positive or negative? ", "Sentiment of this review: ", "Customer review: ",
    "Classify the sentiment: ", "",
]


def _sentiment(rng: random.Random) -> Example:
    positive = rng.random() < 0.5
    kind = "movie" if rng.random() < 0.4 else "product"
    thing = rng.choice(_MOVIES if kind == "movie" else _PRODUCTS)
    negated = rng.random() < 0.25  # "not bad at all" / "not great": the label flips with the negation
    if negated:
        adj = rng.choice(_NEG_ADJ if positive else _POS_ADJ)
        body = rng.choice([
            f"This {thing} is not {adj} at all.",
            f"Honestly the {thing} was not {adj}, {'quite the opposite' if positive else 'just meh'}.",
            f"I wouldn't call this {thing} {adj}.",
        ])
        detail = rng.choice((_POS_DETAIL if positive else _NEG_DETAIL)[kind])
    else:
        adj = rng.choice(_POS_ADJ if positive else _NEG_ADJ)
        verb = rng.choice(_POS_VERB if positive else _NEG_VERB)
        body = rng.choice([
            f"What a {adj} {thing}!",
            f"The {thing} is {adj}.",
            f"I {verb} this {thing}.",
            f"Really {adj} {thing}, I {verb} it.",
            f"{adj.capitalize()}. I {verb} this {thing}.",
        ])
        detail = rng.choice((_POS_DETAIL if positive else _NEG_DETAIL)[kind])
    stars = rng.choice(["", f" {rng.choice([4, 5]) if positive else rng.choice([1, 2])}/5."]) if not negated else ""
    text = f"{body} {detail[0].upper() + detail[1:]}.{stars}"
    return {"input": rng.choice(_SENT_PREFIX) + text, "target": "positive" if positive else "negative"}


# --------------------------------------------------------------------------- support_intent

_INTENTS: dict[str, list[str]] = {
    "refund": [
        "I want my money back for order {order}.",
        "Can I get a refund? The {item} arrived damaged.",
        "Please refund the {amount} you charged me for the {item}.",
        "I returned the {item} two weeks ago and still haven't been reimbursed.",
        "How do I get reimbursed for order {order}? It was the wrong size.",
        "You charged me twice, I need {amount} refunded.",
    ],
    "shipping_status": [
        "Where is my package? Order {order} hasn't arrived.",
        "When will my {item} be delivered?",
        "Can you track order {order} for me?",
        "My {item} was supposed to arrive {day}, any update on the delivery?",
        "The tracking page for order {order} hasn't changed in days.",
        "Has my {item} shipped yet?",
    ],
    "password_reset": [
        "I forgot my password and can't log in.",
        "How do I reset my password? The reset email never came.",
        "My account is locked after too many login attempts.",
        "I can't sign in to my account since {day}, please help me change my password.",
        "The password reset link says it expired.",
        "I need a new password for the account {email}.",
    ],
    "cancel_subscription": [
        "Please cancel my subscription before the next billing date.",
        "How do I stop my monthly plan? I don't want to be charged {day}.",
        "I want to end my membership.",
        "Cancel my premium plan for {email}, please.",
        "I no longer need the service, unsubscribe me from the {plan} plan.",
        "Stop renewing my {plan} subscription.",
    ],
    "update_address": [
        "I moved, please change my shipping address to {street}.",
        "Can I update the delivery address on order {order}?",
        "My new address is {street}, please update my account.",
        "Please send future orders to {street} instead.",
        "I need to correct the street name on my address, it should be {street}.",
        "How do I change the address where my {item} gets shipped?",
    ],
}
_SUPPORT_PREFIX = ["", "", "Customer message: ", "Support ticket: ", "Hi, ", "Hello support, "]
_ITEMS = ["blender", "jacket", "headphones", "lamp", "printer", "sofa cover", "phone", "book set"]
_DAYS = ["yesterday", "on Monday", "last Friday", "this week", "tomorrow", "next month"]
_STREETS = ["12 Oak Street", "48 Rue Lafayette", "7 Elm Road", "221 Baker Street", "5 Harbour Lane", "90 Pine Avenue"]
_PLANS = ["basic", "premium", "family", "pro", "student"]
_NAMES = ["anna", "li.wei", "j.smith", "maria88", "tom.k", "sara.b"]


def _support_intent(rng: random.Random) -> Example:
    label = rng.choice(sorted(_INTENTS))
    template = rng.choice(_INTENTS[label])
    text = template.format(
        order=f"#{rng.randint(10000, 99999)}",
        item=rng.choice(_ITEMS),
        amount=f"${rng.randint(5, 300)}",
        day=rng.choice(_DAYS),
        email=f"{rng.choice(_NAMES)}@example.com",
        street=rng.choice(_STREETS),
        plan=rng.choice(_PLANS),
    )
    prefix = rng.choice(_SUPPORT_PREFIX)
    if prefix in ("Hi, ", "Hello support, "):
        text = text[0].lower() + text[1:]
    return {"input": prefix + text, "target": label}


# --------------------------------------------------------------------------- date_iso

_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


_DATE_SENTENCES = [
    "The meeting is scheduled {d}.",
    "My flight leaves {d}.",
    "The invoice was issued {d}.",
    "We signed the lease {d}.",
    "The concert takes place {d}.",
    "Her birthday party is {d}.",
    "The package was shipped {d}.",
    "The deadline for the report is {d}.",
]
_DATE_PREFIX = ["Convert the date to ISO format: ", "What is the date in ISO format? ", "ISO date: ", "Extract the date: "]


def _date_iso(rng: random.Random) -> Example:
    year = rng.randint(2015, 2029)
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    name = _MONTHS[month - 1]
    fmt = rng.randrange(6)
    if fmt == 0:
        d = f"on {name} {_ordinal(day)}, {year}"
    elif fmt == 1:
        d = f"on {month}/{day}/{year}"
    elif fmt == 2:
        d = f"on the {_ordinal(day)} of {name} {year}"
    elif fmt == 3:
        d = f"on {day} {name} {year}"
    elif fmt == 4:
        d = f"on {name[:3]} {day}, {year}"
    else:
        d = f"on {name} {day}, {year}"
    sentence = rng.choice(_DATE_SENTENCES).format(d=d)
    return {"input": rng.choice(_DATE_PREFIX) + sentence, "target": f"{year:04d}-{month:02d}-{day:02d}"}


# --------------------------------------------------------------------------- sql

_CITIES = ["Paris", "Berlin", "Madrid", "Tokyo", "Boston", "Lima", "Oslo", "Cairo", "Dublin", "Seoul"]
_CATEGORIES = ["books", "toys", "garden", "music", "sports", "kitchen"]
_SQL_PREFIX = ["Write SQL: ", "SQL query to ", "Translate to SQL: ", "Database question: "]


def _sql(rng: random.Random) -> Example:
    kind = rng.randrange(6)
    city = rng.choice(_CITIES)
    cat = rng.choice(_CATEGORIES)
    n = rng.randint(2, 99)
    if kind == 0:
        q = rng.choice(["list the names of customers in {c}", "show the names of all customers from {c}"])
        sql = f"SELECT name FROM customers WHERE city = '{city}';"
    elif kind == 1:
        q = rng.choice(["count the customers in {c}", "how many customers live in {c}"])
        sql = f"SELECT COUNT(*) FROM customers WHERE city = '{city}';"
    elif kind == 2:
        q = rng.choice(["list the products in the {k} category", "show all {k} products"])
        sql = f"SELECT name FROM products WHERE category = '{cat}';"
    elif kind == 3:
        q = rng.choice(["find products cheaper than {n} dollars", "show products with a price below {n}"])
        sql = f"SELECT name FROM products WHERE price < {n};"
    elif kind == 4:
        q = rng.choice(["list the emails of customers in {c}", "get the email addresses of customers from {c}"])
        sql = f"SELECT email FROM customers WHERE city = '{city}';"
    else:
        q = rng.choice(["count the orders over {n} dollars", "how many orders have a total above {n}"])
        sql = f"SELECT COUNT(*) FROM orders WHERE total > {n};"
    return {"input": rng.choice(_SQL_PREFIX) + q.format(c=city, k=cat, n=n), "target": sql}


GENERATORS: dict[str, Callable[[random.Random], Example]] = {
    "sentiment": _sentiment,
    "support_intent": _support_intent,
    "date_iso": _date_iso,
    "sql": _sql,
}


def generate_task(task: str, n: int, seed: int) -> list[Example]:
    """``n`` distinct examples of ``task`` (duplicate inputs are skipped), deterministic for a seed."""
    if task not in GENERATORS:
        raise KeyError(f"unknown demo task {task!r}; known: {sorted(GENERATORS)}")
    rng = random.Random(f"{task}:{seed}")
    seen: set[str] = set()
    out: list[Example] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 100 * n:
            raise RuntimeError(f"task {task!r} cannot produce {n} distinct examples")
        ex = GENERATORS[task](rng)
        if ex["input"] in seen:
            continue
        seen.add(ex["input"])
        out.append({"input": ex["input"], "target": ex["target"], "task": task})
    return out
