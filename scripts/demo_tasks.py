"""Seeded generators for the demo tasks (pure Python, no dependencies).

Why a generator and not a data set: the demo pool must ship with the package, be reproducible
byte for byte, and owe nothing to external data licences. Targets are scored by exact match.

Why two template sets per task: a held-out set written from the training templates only measures
recall of those templates (the first demo pool had 24 of 40 SQL test inputs equal to a training
input up to the instruction prefix). Every task therefore has *training* templates (many styles
and lengths: short fragments, chatty lines, long reviews/tickets, with and without an instruction
prefix) and separate *test* templates written in other styles, plus some fillers (products, cities,
categories, items, streets, durations) that only the test split uses. Each row is tagged with its
``template`` id and its instruction ``prefix`` (the exact leading string, "" for none), so tests can
check that test templates are disjoint from training templates and that no test input equals a
training input once the prefix is removed.

``generate_task(name, n, seed, split="train")`` returns ``n`` distinct
``{"input", "target", "task", "template", "prefix"}`` dicts; ``split="test"`` uses the test templates.
``generate_oos(n, seed, split)`` returns ``{"input", "task": "oos", "template"}`` rows (questions no
demo adapter should take) with disjoint templates between ``split="calibration"`` and ``split="test"``.
"""
from __future__ import annotations

import calendar
import datetime as _dt
import random
import re
from typing import Callable

Example = dict[str, str]
SPLITS = ("train", "test")


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _pick_prefix(rng: random.Random, prefixes: list[str], style: str = "") -> str:
    """A prefix compatible with the body's style ("imp" bodies also accept prefixes ending in ' to ')."""
    while True:
        p = rng.choice(prefixes)
        if p.endswith(" to ") and style != "imp":
            continue
        return p


# =========================================================================== sentiment

_PRODUCTS = {
    "train": [
        "headphones", "blender", "phone case", "laptop", "coffee maker", "backpack", "keyboard", "desk lamp",
        "running shoes", "vacuum cleaner", "camera", "smartwatch", "toaster", "office chair", "e-reader",
        "water bottle", "jacket", "tent", "speaker", "charger", "lamp", "phone", "mouse", "kettle",
    ],
    "test": ["air fryer", "yoga mat", "drone", "mattress", "electric toothbrush", "suitcase", "monitor", "printer"],
}
_MOVIES = {
    "train": ["movie", "film", "series", "documentary", "sequel", "thriller", "comedy", "cartoon", "show"],
    "test": ["musical", "miniseries", "horror film", "anime"],
}
_PLACES = {
    "train": ["restaurant", "hotel", "cafe", "hair salon", "gym", "pizza place"],
    "test": ["bakery", "hostel", "car rental", "dentist's office"],
}
_POS_ADJ = [
    "excellent", "fantastic", "wonderful", "great", "superb", "brilliant", "delightful", "solid",
    "amazing", "lovely", "outstanding", "impressive", "reliable", "charming", "perfect", "awesome",
]
_NEG_ADJ = [
    "terrible", "awful", "disappointing", "cheap", "flimsy", "boring", "useless", "dreadful",
    "poor", "broken", "horrible", "mediocre", "annoying", "painful", "clumsy", "bad",
]
_POS_VERB = ["love", "adore", "really enjoy", "would recommend", "am thrilled with", "can't stop using", "like"]
_NEG_VERB = ["hate", "regret buying", "can't stand", "would not recommend", "am fed up with", "returned", "dislike"]
_DURATIONS = {
    "train": ["two days", "a week", "three weeks", "a month", "ten minutes", "one use", "two months", "an hour",
              "three days", "the second use", "a couple of days", "one week", "a few hours"],
    "test": ["one day", "a day", "five days", "the first wash", "one afternoon", "two weeks"],
}
# Clauses that carry the polarity, per kind of thing. "{dur}" is filled with a duration.
_CLAUSES = {
    ("product", True): [
        "it works exactly as described", "the quality is worth every penny", "it arrived early and well packed",
        "it exceeded my expectations", "the battery lasts for days", "setup took two minutes",
        "it still works perfectly after {dur}", "it has held up great for {dur}", "it works like a charm",
        "it does exactly what it says", "my kids love it", "it feels sturdy and well made",
        "best thing I bought in ages", "I use it every single day",
    ],
    ("product", False): [
        "it broke after {dur}", "it stopped working after {dur}", "it fell apart within {dur}",
        "it died after {dur}", "it arrived damaged", "it never turned on", "customer service never answered",
        "it was a waste of money", "the colours faded after one wash", "it feels like a cheap toy",
        "I sent it back after {dur}", "it overheats all the time", "half the buttons don't work", "it leaks",
    ],
    ("movie", True): [
        "the acting was moving", "the story kept me hooked", "my whole family enjoyed it",
        "the soundtrack is beautiful", "I laughed the whole time", "I'd watch it again tonight",
    ],
    ("movie", False): [
        "the plot made no sense", "the ending was a letdown", "I fell asleep halfway through",
        "the dialogue was painful", "it dragged on forever", "I walked out after an hour",
    ],
    ("place", True): [
        "the staff were friendly and quick", "the food was fresh and tasty", "the room was spotless",
        "we will definitely come back", "the service was fast",
    ],
    ("place", False): [
        "the staff were rude", "the food was cold", "the room smelled of smoke", "we waited an hour for nothing",
        "the service was slow",
    ],
}
_TEST_CLAUSES = {  # extra clauses only the test split uses
    ("product", True): ["it cleans up in seconds", "it is quieter than I hoped", "the build quality is top notch"],
    ("product", False): ["the screen went black on day two", "it cracked the first time I dropped it",
                         "the zipper tore off immediately"],
    ("movie", True): ["the twist at the end was brilliant", "every scene looked gorgeous"],
    ("movie", False): ["the jokes fell flat", "the special effects looked fake"],
    ("place", True): ["the staff went out of their way for us", "prices were fair and the portions big"],
    ("place", False): ["our booking was lost", "the bathroom was filthy"],
}
_TAILS = {
    True: ["So happy.", "Love it.", "Would buy again.", "Highly recommended.", "Ten out of ten.", "Very pleased."],
    False: ["So annoyed.", "Never again.", "Avoid.", "Do not buy.", "Total waste.", "Very disappointed."],
}
_STARS = {True: ["4/5", "5/5", "5 stars", "five stars", "4 stars"], False: ["1/5", "2/5", "1 star", "one star", "2 stars"]}
_RELATIVES = ["mum", "brother", "partner", "boss", "neighbour", "grandfather"]

# (template id, kinds it fits, text). Slots: thing adj Adj opp_adj verb clause Clause clause2 stars tail relative.
_SENT_TEMPLATES = {
    "train": [
        ("tr01", "pmx", "{Clause}."),
        ("tr02", "pmx", "{clause}"),
        ("tr03", "pmx", "What a {adj} {thing}! {Clause}."),
        ("tr04", "pmx", "The {thing} is {adj}. {Clause}. {stars}."),
        ("tr05", "p", "I {verb} this {thing}. {Clause}."),
        ("tr06", "pmx", "Really {adj} {thing}, I {verb} it."),
        ("tr07", "pmx", "{Adj}. I {verb} this {thing}. {stars}."),
        ("tr08", "pmx", "This {thing} is not {opp_adj} at all. {Clause}."),
        ("tr09", "pmx", "I wouldn't call this {thing} {opp_adj}."),
        ("tr10", "pmx", "{adj}, {clause}."),
        ("tr11", "p", "Bought the {thing} for my {relative}. {Clause}. {tail}"),
        ("tr12", "pmx", "{stars}. {clause}"),
        ("tr13", "p", "My {relative} gave me this {thing} and {clause}. {tail}"),
        ("tr14", "pmx", "I had high expectations for this {thing}. {Clause}, and {clause2}. {tail}"),
        ("tr15", "pmx", "{Clause}!!! {tail}"),
        ("tr16", "pmx", "{adj} {thing}"),
        ("tr17", "pmx", "Honestly? {Clause}. {tail}"),
        ("tr18", "pmx", "{thing} review: {adj}. {Clause}."),
        ("tr19", "pmx", "I went in without any expectations, and to be honest the {thing} was {adj}: {clause}, "
                        "{clause2}. {tail}"),
        ("tr20", "pmx", "ugh. {clause}. {tail}"),
        ("tr21", "pmx", "The {thing}? {Adj}."),
        ("tr22", "p", "{Clause}, {clause2}."),
    ],
    "test": [
        ("te01", "pmx", "Title: {Adj} {thing}. Body: {Clause}."),
        ("te02", "p", "Would I buy this {thing} again? {yes_no}. {Clause}."),
        ("te03", "p", "Compared to my old {thing}, this one is {comparative}: {clause}."),
        ("te04", "pmx", "After {dur} with the {thing}: {clause}. Rating: {rating}/10."),
        ("te05", "pmx", "Told my friends about the {thing}: {adj}, {clause}."),
        ("te06", "pmx", "Overall verdict on the {thing}? {Adj}. {Clause}."),
        ("te07", "m", "The {thing} left me {feeling}."),
        ("te08", "p", "Quick update on the {thing} I ordered: {clause}."),
        ("te09", "pmx", "{Adj} experience with this {thing}, {clause}"),
        ("te10", "pmx", "Pros and cons of the {thing} in one line: {clause}. {tail}"),
    ],
}
_COMPARATIVE = {True: ["much better", "a big upgrade", "far nicer"], False: ["much worse", "a big step down", "far flimsier"]}
_FEELING = {True: ["smiling for days", "wanting more", "in tears of joy"], False: ["bored to tears", "wanting my money back",
                                                                                   "checking my phone every minute"]}
_YES_NO = {True: ["Yes, in a heartbeat", "Absolutely", "Yes"], False: ["No way", "Never", "No"]}

_SENT_PREFIX = {
    "train": [
        "", "", "", "Review: ", "Is this review positive or negative? ", "Sentiment of this review: ",
        "Customer review: ", "Classify the sentiment: ", "Classify the sentiment: ", "Sentiment: ",
        "What is the sentiment of this text? ", "Positive or negative? ", "Classify this review: ",
    ],
    "test": [
        "", "", "Classify the sentiment: ", "Is this review positive or negative? ", "Tell me if this is positive or negative: ",
        "Sentiment analysis: ", "How does the customer feel? ",
    ],
}


def _sentiment(rng: random.Random, split: str) -> Example:
    tid, kinds, tmpl = rng.choice(_SENT_TEMPLATES[split])
    kind = rng.choice([{"p": "product", "m": "movie", "x": "place"}[k] for k in kinds])
    positive = rng.random() < 0.5
    things = {"product": _PRODUCTS, "movie": _MOVIES, "place": _PLACES}[kind]
    pool = things["train"] + (things["test"] * 2 if split == "test" else [])
    clauses = list(_CLAUSES[(kind, positive)]) + (_TEST_CLAUSES[(kind, positive)] * 2 if split == "test" else [])
    durs = _DURATIONS["train"] + (_DURATIONS["test"] * 2 if split == "test" else [])

    def clause() -> str:
        return rng.choice(clauses).format(dur=rng.choice(durs))

    c1 = clause()
    c2 = clause()
    while c2 == c1:
        c2 = clause()
    adj = rng.choice(_POS_ADJ if positive else _NEG_ADJ)
    text = tmpl.format(
        thing=rng.choice(pool), adj=adj, Adj=_cap(adj), opp_adj=rng.choice(_NEG_ADJ if positive else _POS_ADJ),
        verb=rng.choice(_POS_VERB if positive else _NEG_VERB), clause=c1, Clause=_cap(c1), clause2=c2,
        stars=rng.choice(_STARS[positive]), tail=rng.choice(_TAILS[positive]), relative=rng.choice(_RELATIVES),
        yes_no=rng.choice(_YES_NO[positive]), comparative=rng.choice(_COMPARATIVE[positive]),
        rating=rng.choice([8, 9, 10]) if positive else rng.choice([1, 2, 3]), feeling=rng.choice(_FEELING[positive]),
        dur=rng.choice(durs),
    )
    if tid in ("tr02", "tr12", "tr16", "tr20") and rng.random() < 0.5:
        text = text.lower()
    prefix = _pick_prefix(rng, _SENT_PREFIX[split])
    return {"input": prefix + text, "target": "positive" if positive else "negative",
            "template": f"sentiment:{tid}", "prefix": prefix}


# =========================================================================== support_intent

SUPPORT_LABELS = ("cancel_subscription", "password_reset", "refund", "shipping_status", "update_address")

_INTENTS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "train": {
        "refund": [
            ("01", "I want my money back for order {order}."),
            ("02", "Can I get a refund? The {item} arrived damaged."),
            ("03", "Please refund the {amount} you charged me for the {item}."),
            ("04", "I returned the {item} two weeks ago and still haven't been reimbursed."),
            ("05", "How do I get reimbursed for order {order}? It was the wrong size."),
            ("06", "You charged me twice, I need {amount} refunded."),
            ("07", "refund please"),
            ("08", "The {item} doesn't work and I'd like my {amount} back, not a replacement."),
            ("09", "I've been a loyal customer for years but this time the {item} was defective. I already sent "
                   "it back {day}. When will the refund reach my card?"),
            ("10", "Refund for order {order}"),
        ],
        "shipping_status": [
            ("01", "Where is my package? Order {order} hasn't arrived."),
            ("02", "When will my {item} be delivered?"),
            ("03", "Can you track order {order} for me?"),
            ("04", "My {item} was supposed to arrive {day}, any update on the delivery?"),
            ("05", "The tracking page for order {order} hasn't changed in days."),
            ("06", "Has my {item} shipped yet?"),
            ("07", "where is my order"),
            ("08", "Still waiting for order {order}. It's been {n} days."),
            ("09", "I ordered a {item} {day} and paid for express shipping, but nothing has come. Could you check "
                   "where it is right now and when it will get here?"),
            ("10", "Delivery status of order {order}?"),
        ],
        "password_reset": [
            ("01", "I forgot my password and can't log in."),
            ("02", "How do I reset my password? The reset email never came."),
            ("03", "My account is locked after too many login attempts."),
            ("04", "I can't sign in to my account since {day}, please help me change my password."),
            ("05", "The password reset link says it expired."),
            ("06", "I need a new password for the account {email}."),
            ("07", "locked out of my account"),
            ("08", "Login keeps saying wrong password even though I'm sure it's right."),
            ("09", "I got a new phone and now I can't get into my account {email}. How do I reset the password "
                   "when the verification code goes to my old number?"),
            ("10", "Password reset for {email}"),
        ],
        "cancel_subscription": [
            ("01", "Please cancel my subscription before the next billing date."),
            ("02", "How do I stop my monthly plan? I don't want to be charged {day}."),
            ("03", "I want to end my membership."),
            ("04", "Cancel my {plan} plan for {email}, please."),
            ("05", "I no longer need the service, unsubscribe me from the {plan} plan."),
            ("06", "Stop renewing my {plan} subscription."),
            ("07", "cancel my plan"),
            ("08", "I'm switching to another provider, so please terminate my {plan} subscription at the end of "
                   "this month and confirm by email that no further payments will be taken."),
            ("09", "How can I turn off auto-renewal? I don't want the {plan} plan anymore."),
            ("10", "Cancel subscription"),
        ],
        "update_address": [
            ("01", "I moved, please change my shipping address to {street}."),
            ("02", "Can I update the delivery address on order {order}?"),
            ("03", "My new address is {street}, please update my account."),
            ("04", "Please send future orders to {street} instead."),
            ("05", "I need to correct the street name on my address, it should be {street}."),
            ("06", "How do I change the address where my {item} gets shipped?"),
            ("07", "new address: {street}"),
            ("08", "The address on my profile is outdated, it should say {street}."),
            ("09", "We are relocating next week, so from {day} onwards all my parcels should go to {street} and "
                   "not to the old flat. Can you change that on my account?"),
            ("10", "Change my address"),
        ],
    },
    "test": {
        "refund": [
            ("01", "Dear team, the {item} I bought was faulty. I would like a full reimbursement of {amount}. "
                   "Regards, {first}"),
            ("02", "pls send back my {amount}, the {item} was not as described"),
            ("03", "Is it possible to have the payment for order {order} returned to my card?"),
        ],
        "shipping_status": [
            ("01", "Dear team, I placed order {order} {day} and it has still not shown up. Could you let me know "
                   "its status? Thanks, {first}"),
            ("02", "any news on my {item}?? its been ages"),
            ("03", "What's the estimated delivery date for order {order}?"),
        ],
        "password_reset": [
            ("01", "Dear team, I am unable to access my account because I no longer remember my password. "
                   "Kind regards, {first}"),
            ("02", "cant login, pwd not working, help"),
            ("03", "The forgot-password button does nothing, how else can I set a new one for {email}?"),
        ],
        "cancel_subscription": [
            ("01", "Dear team, please close my {plan} membership effective immediately and stop all future "
                   "payments. Best, {first}"),
            ("02", "dont want the {plan} plan anymore, end it pls"),
            ("03", "What are the steps to unsubscribe from the monthly billing?"),
        ],
        "update_address": [
            ("01", "Dear team, kindly note my change of address: from now on please deliver to {street}. "
                   "Thank you, {first}"),
            ("02", "moved house, new addr is {street}"),
            ("03", "Is it too late to change where order {order} is being sent? It should go to {street}."),
        ],
    },
}
_SUPPORT_PREFIX = {
    "train": ["", "", "", "Customer message: ", "Support ticket: ", "Hi, ", "Hello support, ", "Intent: ",
              "Classify the intent: "],
    "test": ["", "", "Customer message: ", "Message from a customer: ", "Support chat: ", "Hi, "],
}
_ITEMS = {"train": ["blender", "jacket", "headphones", "lamp", "printer", "sofa cover", "phone", "book set", "parcel"],
          "test": ["air fryer", "rug", "monitor", "coat"]}
_DAYS = ["yesterday", "on Monday", "last Friday", "this week", "tomorrow", "next month", "two weeks ago"]
_STREETS = {"train": ["12 Oak Street", "48 Rue Lafayette", "7 Elm Road", "221 Baker Street", "5 Harbour Lane",
                      "90 Pine Avenue", "3 Station Road", "16 Hill Crescent"],
            "test": ["14 Maple Drive", "3 Quai Voltaire", "77 Cedar Court"]}
_PLANS = ["basic", "premium", "family", "pro", "student"]
_NAMES = ["anna", "li.wei", "j.smith", "maria88", "tom.k", "sara.b"]
_FIRST = ["Anna", "Wei", "John", "Maria", "Tom", "Sara", "Omar"]


def _support_intent(rng: random.Random, split: str) -> Example:
    label = rng.choice(SUPPORT_LABELS)
    tid, template = rng.choice(_INTENTS[split][label])
    order = rng.randint(10000, 99999)
    text = template.format(
        order=rng.choice([f"#{order}", f"#{order}", str(order)]),
        item=rng.choice(_ITEMS["train"] + (_ITEMS["test"] * 2 if split == "test" else [])),
        amount=f"${rng.randint(5, 300)}",
        day=rng.choice(_DAYS),
        email=f"{rng.choice(_NAMES)}@example.com",
        street=rng.choice(_STREETS["train"] + (_STREETS["test"] * 2 if split == "test" else [])),
        plan=rng.choice(_PLANS),
        n=rng.randint(3, 20),
        first=rng.choice(_FIRST),
    )
    prefix = _pick_prefix(rng, _SUPPORT_PREFIX[split])
    while text.startswith("Dear ") and prefix in ("Hi, ", "Hello support, "):
        prefix = _pick_prefix(rng, _SUPPORT_PREFIX[split])  # no greeting before a letter's own greeting
    if prefix in ("Hi, ", "Hello support, ") and not text.startswith("I "):
        text = text[0].lower() + text[1:]
    tag = "tr" if split == "train" else "te"
    return {"input": prefix + text, "target": label, "template": f"support_intent:{tag}.{label}.{tid}", "prefix": prefix}


# =========================================================================== date_iso

_MONTHS = list(calendar.month_name)[1:]
_WEEKDAYS = list(calendar.day_name)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _format_date(rng: random.Random, year: int, month: int, day: int, split: str) -> str:
    """The date written in one of several styles (without a leading 'on')."""
    name = _MONTHS[month - 1]
    weekday = _WEEKDAYS[_dt.date(year, month, day).weekday()]
    styles = [
        f"{name} {_ordinal(day)}, {year}",
        f"{month}/{day}/{year}",
        f"the {_ordinal(day)} of {name} {year}",
        f"{day} {name} {year}",
        f"{name[:3]} {day}, {year}",
        f"{name} {day}, {year}",
        f"{weekday}, {name} {day}, {year}",
        f"{month:02d}/{day:02d}/{year}",
        f"{day} {name[:3]} {year}",
        f"{name} {_ordinal(day)} {year}",
    ]
    if split == "test":
        styles += [f"{_ordinal(day)} {name} {year}", f"{name} {day} {year}"]  # styles only the test split uses
    return rng.choice(styles)


_DATE_TEMPLATES = {  # "{on}" is "on <date>", "{d}" the bare date
    "train": [
        ("tr01", "The meeting is scheduled {on}."),
        ("tr02", "My flight leaves {on}."),
        ("tr03", "The invoice was issued {on}."),
        ("tr04", "We signed the lease {on}."),
        ("tr05", "The concert takes place {on}."),
        ("tr06", "Her birthday party is {on}."),
        ("tr07", "The package was shipped {on}."),
        ("tr08", "The deadline for the report is {on}."),
        ("tr09", "{d}"),
        ("tr10", "Due {d}."),
        ("tr11", "The train departs {on} at {time} from platform {gate}."),
        ("tr12", "The invoice is due {on}."),
        ("tr13", "Payment of ${amount} was received {on}, reference {ref}."),
        ("tr14", "Please remember that the team offsite in {city} is {on}, not the week after, so book your "
                 "hotel early."),
        ("tr15", "Delivery window: {d}."),
        ("tr16", "Room {room} is booked {on} from {time}."),
        ("tr17", "She was born {on}."),
        ("tr18", "we close the office {on} for maintenance"),
        ("tr19", "Date of purchase: {d}"),
        ("tr20", "The contract starts {on} and runs for {n} months."),
    ],
    "test": [
        ("te01", "Reminder: dentist appointment {on} at {time}."),
        ("te02", "Can you turn {d} into a standard date?"),
        ("te03", "Save the date! Our wedding is {on}."),
        ("te04", "Posted by admin {on}, {n} comments."),
        ("te05", "The warranty expires {on}; after that, repairs are charged."),
        ("te06", "According to the log, the server crashed {on} around {time}."),
        ("te07", "Ticket valid until {d}."),
        ("te08", "Kick-off meeting: {d}, conference room {room}."),
    ],
}
_DATE_PREFIX = {
    "train": ["Convert the date to ISO format: ", "What is the date in ISO format? ", "ISO date: ", "Extract the date: ",
              "", "", "Normalize this date: ", "Give the ISO 8601 date: ", "Date in ISO format: "],
    "test": ["", "Convert the date to ISO format: ", "What is the date in ISO format? ", "Rewrite the date as YYYY-MM-DD: ",
             "ISO 8601 please: "],
}
_CITIES_SMALL = ["Lisbon", "Oslo", "Kyoto", "Denver", "Leeds"]


def _date_iso(rng: random.Random, split: str) -> Example:
    year = rng.randint(1990, 2035)
    month = rng.randint(1, 12)
    day = rng.randint(1, calendar.monthrange(year, month)[1])
    d = _format_date(rng, year, month, day, split)
    tid, tmpl = rng.choice(_DATE_TEMPLATES[split])
    hour = rng.randint(1, 12)
    text = tmpl.format(
        on=f"on {d}", d=d, time=rng.choice([f"{hour}am", f"{hour}pm", f"{rng.randint(7, 21)}:{rng.choice(['00', '15', '30', '45'])}"]),
        gate=f"{rng.choice('ABCD')}{rng.randint(1, 40)}", amount=rng.randint(20, 900), ref=f"INV-{rng.randint(1000, 9999)}",
        city=rng.choice(_CITIES_SMALL), room=rng.randint(100, 499), n=rng.randint(2, 36),
    )
    prefix = _pick_prefix(rng, _DATE_PREFIX[split])
    return {"input": prefix + text, "target": f"{year:04d}-{month:02d}-{day:02d}", "template": f"date_iso:{tid}",
            "prefix": prefix}


# =========================================================================== sql

_CITIES = {"train": ["Paris", "Berlin", "Madrid", "Tokyo", "Boston", "Lima", "Oslo", "Cairo", "Dublin", "Seoul",
                     "Chicago", "Mumbai", "Sydney", "Vienna", "Denver"],
           "test": ["Lisbon", "Toronto", "Nairobi", "Prague", "Austin"]}
_CATEGORIES = {"train": ["books", "toys", "garden", "music", "sports", "kitchen", "clothing", "beauty"],
               "test": ["electronics", "office", "pets"]}

# kind -> target; "{c}" city, "{k}" category, "{n}" number.
_SQL_TARGETS = {
    "customer_names": "SELECT name FROM customers WHERE city = '{c}';",
    "count_customers": "SELECT COUNT(*) FROM customers WHERE city = '{c}';",
    "category_products": "SELECT name FROM products WHERE category = '{k}';",
    "cheap_products": "SELECT name FROM products WHERE price < {n};",
    "customer_emails": "SELECT email FROM customers WHERE city = '{c}';",
    "count_big_orders": "SELECT COUNT(*) FROM orders WHERE total > {n};",
    "expensive_products": "SELECT name FROM products WHERE price > {n};",
    "count_category": "SELECT COUNT(*) FROM products WHERE category = '{k}';",
}
# kind -> [(template id, style, text)]; style "imp" bodies read well after "SQL query to ".
_SQL_TEMPLATES: dict[str, dict[str, list[tuple[str, str, str]]]] = {
    "train": {
        "customer_names": [
            ("01", "imp", "list the names of customers in {c}"), ("02", "imp", "show the names of all customers from {c}"),
            ("03", "q", "who are the customers in {c}?"), ("04", "np", "names of customers living in {c}"),
            ("05", "imp", "get every customer name for {c}"), ("06", "st", "I need the names of our {c} customers"),
        ],
        "count_customers": [
            ("01", "imp", "count the customers in {c}"), ("02", "q", "how many customers live in {c}"),
            ("03", "np", "number of customers from {c}"), ("04", "q", "how many of our customers are in {c}?"),
            ("05", "imp", "get the customer count for {c}"),
        ],
        "category_products": [
            ("01", "imp", "list the products in the {k} category"), ("02", "imp", "show all {k} products"),
            ("03", "q", "which products are in the {k} category?"), ("04", "np", "names of {k} products"),
            ("05", "imp", "get every product of category {k}"),
        ],
        "cheap_products": [
            ("01", "imp", "find products cheaper than {n} dollars"), ("02", "imp", "show products with a price below {n}"),
            ("03", "q", "which products cost less than {n}?"), ("04", "np", "products under {n} dollars"),
            ("05", "imp", "list products priced below ${n}"),
        ],
        "customer_emails": [
            ("01", "imp", "list the emails of customers in {c}"),
            ("02", "imp", "get the email addresses of customers from {c}"),
            ("03", "np", "email addresses for {c} customers"),
            ("04", "q", "what are the emails of customers living in {c}?"),
        ],
        "count_big_orders": [
            ("01", "imp", "count the orders over {n} dollars"), ("02", "q", "how many orders have a total above {n}"),
            ("03", "np", "number of orders larger than {n}"), ("04", "q", "how many orders exceed ${n}?"),
        ],
        "expensive_products": [
            ("01", "imp", "find products more expensive than {n} dollars"),
            ("02", "imp", "show products with a price above {n}"),
            ("03", "q", "which products cost more than {n}?"), ("04", "np", "products over {n} dollars"),
        ],
        "count_category": [
            ("01", "imp", "count the products in the {k} category"), ("02", "q", "how many {k} products are there"),
            ("03", "np", "number of products in {k}"),
        ],
    },
    "test": {
        "customer_names": [("01", "q", "which customers are located in {c}?"),
                           ("02", "np", "customer names where the city is {c}")],
        "count_customers": [("01", "q", "what is the number of customers whose city is {c}?"),
                            ("02", "imp", "tell me how many customers {c} has")],
        "category_products": [("01", "imp", "display product names for the {k} category"),
                              ("02", "np", "products belonging to the {k} category, please")],
        "cheap_products": [("01", "np", "product names with a price lower than {n}"),
                           ("02", "q", "what can I buy for less than {n} dollars?")],
        "customer_emails": [("01", "st", "I want to mail everyone in {c}: give me the customers' emails"),
                            ("02", "np", "customer emails where the city is {c}")],
        "count_big_orders": [("01", "np", "total count of orders whose total is greater than {n}"),
                             ("02", "q", "orders above {n} dollars: how many are there?")],
        "expensive_products": [("01", "np", "product names with a price higher than {n}"),
                               ("02", "imp", "list everything priced above {n} dollars")],
        "count_category": [("01", "q", "how many items does the {k} category contain?"),
                           ("02", "np", "product count for category {k}")],
    },
}
_SQL_PREFIX = {
    "train": ["Write SQL: ", "SQL query to ", "Translate to SQL: ", "Translate to SQL: ", "Database question: ", "", "",
              "SQL: ", "Write a SQL query: ", "Convert to SQL: "],
    "test": ["", "Translate to SQL: ", "Write SQL: ", "Give me the SQL for: ", "As a SQL query: "],
}


def _sql(rng: random.Random, split: str) -> Example:
    kind = rng.choice(sorted(_SQL_TARGETS))
    tid, style, q = rng.choice(_SQL_TEMPLATES[split][kind])
    city = rng.choice(_CITIES["train"] + (_CITIES["test"] * 2 if split == "test" else []))
    cat = rng.choice(_CATEGORIES["train"] + (_CATEGORIES["test"] * 2 if split == "test" else []))
    n = rng.choice([rng.randint(2, 99), rng.randint(2, 99), rng.randint(100, 999)])
    prefix = _pick_prefix(rng, _SQL_PREFIX[split], style)
    body = q.format(c=city, k=cat, n=n)
    if rng.random() < 0.3 and not prefix.endswith(" to "):
        body = _cap(body)
    tag = "tr" if split == "train" else "te"
    return {"input": prefix + body, "target": _SQL_TARGETS[kind].format(c=city, k=cat, n=n),
            "template": f"sql:{tag}.{kind}.{tid}", "prefix": prefix}


GENERATORS: dict[str, Callable[[random.Random, str], Example]] = {
    "sentiment": _sentiment,
    "support_intent": _support_intent,
    "date_iso": _date_iso,
    "sql": _sql,
}


def body_key(text: str, prefix: str = "") -> str:
    """What is left of an input once its instruction prefix, case, punctuation and digits are removed."""
    if prefix and text.startswith(prefix):
        text = text[len(prefix):]
    return " ".join(re.sub(r"[^a-z]+", " ", text.lower()).split())


def generate_task(task: str, n: int, seed: int, split: str = "train") -> list[Example]:
    """``n`` distinct examples of ``task`` from the ``split``'s templates, deterministic for a seed."""
    if task not in GENERATORS:
        raise KeyError(f"unknown demo task {task!r}; known: {sorted(GENERATORS)}")
    if split not in SPLITS:
        raise KeyError(f"unknown split {split!r}; known: {SPLITS}")
    rng = random.Random(f"{task}:{split}:{seed}")
    seen: set[str] = set()
    out: list[Example] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 100 * n:
            raise RuntimeError(f"task {task!r} cannot produce {n} distinct {split} examples")
        ex = GENERATORS[task](rng, split)
        if ex["input"] in seen:
            continue
        seen.add(ex["input"])
        out.append({"input": ex["input"], "target": ex["target"], "task": task, "template": ex["template"],
                    "prefix": ex["prefix"]})
    return out


# =========================================================================== out of scope

_OOS: dict[str, list[tuple[str, str, dict[str, list[str]]]]] = {
    "calibration": [
        ("cal01", "What is the capital of {country}?", {"country": ["France", "Japan", "Kenya", "Peru", "Canada",
                                                                     "Norway", "Egypt", "Chile", "Vietnam", "Poland"]}),
        ("cal02", "What is {a} plus {b}?", {}),
        ("cal03", "Who wrote {book}?", {"book": ["Hamlet", "Don Quixote", "Pride and Prejudice", "War and Peace",
                                                "The Odyssey", "Moby Dick", "Frankenstein", "Dracula"]}),
        ("cal04", "How many legs does a {animal} have?", {"animal": ["spider", "horse", "ant", "crab", "octopus",
                                                                     "chicken", "beetle", "dog"]}),
        ("cal05", "{chat}", {"chat": ["How are you doing today?", "Tell me a joke.", "What's your favourite colour?",
                                      "Do you like music?", "Good night!", "I'm bored, talk to me.",
                                      "Can you sing a song?", "What should I name my cat?"]}),
        ("cal06", "Why is the {thing} {colour}?", {"thing": ["sky", "sea", "grass", "sun at sunset"],
                                                   "colour": ["blue", "green", "orange"]}),
        ("cal07", "Explain {topic} in simple words.", {"topic": ["photosynthesis", "gravity", "inflation",
                                                                 "black holes", "vaccines", "the water cycle"]}),
    ],
    "test": [
        ("te01", "Which country is {capital} the capital of?", {"capital": ["Rome", "Ottawa", "Canberra", "Hanoi",
                                                                            "Nairobi", "Lima", "Warsaw", "Cairo"]}),
        ("te02", "Calculate {a} times {b}.", {}),
        ("te03", "Who painted {painting}?", {"painting": ["the Mona Lisa", "The Starry Night", "The Scream",
                                                          "Guernica", "The Night Watch", "Girl with a Pearl Earring"]}),
        ("te04", "Do {animal} sleep at night?", {"animal": ["owls", "sharks", "cows", "bats", "dolphins", "cats"]}),
        ("te05", "{chat}", {"chat": ["Good morning! Any plans for the weekend?", "Are you a robot?",
                                     "What's the meaning of life?", "Say something nice.", "Who made you?",
                                     "Can you keep a secret?", "I just got a puppy!", "Let's play a game."]}),
        ("te06", "What is the tallest {thing} in the world?", {"thing": ["mountain", "building", "tree", "waterfall",
                                                                        "animal", "bridge"]}),
        ("te07", "How do I {task}?", {"task": ["boil an egg", "tie a tie", "learn to juggle", "grow tomatoes",
                                               "change a bike tyre", "meditate", "fold a paper plane"]}),
    ],
}


def generate_oos(n: int, seed: int, split: str) -> list[dict[str, str]]:
    """``n`` distinct out-of-scope questions (trivia, chit-chat, arithmetic, general knowledge)."""
    if split not in _OOS:
        raise KeyError(f"unknown oos split {split!r}; known: {sorted(_OOS)}")
    rng = random.Random(f"oos:{split}:{seed}")
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * n:
            raise RuntimeError(f"cannot produce {n} distinct oos {split} questions")
        tid, tmpl, slots = rng.choice(_OOS[split])
        values = {k: rng.choice(v) for k, v in slots.items()}
        text = tmpl.format(a=rng.randint(2, 99), b=rng.randint(2, 99), **values)
        if text in seen:
            continue
        seen.add(text)
        out.append({"input": text, "task": "oos", "template": f"oos:{tid}"})
    return out
