"""Convert the official CLINC150 file (data_full.json) into the JSONL layout the notebooks and benchmarks read.

    # 1. download the public data (Larson et al., 2019; CC BY 3.0): github.com/clinc/oos-eval
    curl -LO https://raw.githubusercontent.com/clinc/oos-eval/master/data/data_full.json
    # 2. convert it (the folder is read by notebook 04 and benchmarks/*.py via --data or $ARIADNE_BENCHMARKS)
    python scripts/prepare_clinc150.py data_full.json --out ../shared/benchmarks/clinc150

data_full.json holds ``[utterance, intent]`` pairs per split. Written, one JSON object per line
``{"task": <domain>, "intent": <intent>, "input": <utterance>}`` in the file's order:

- ``train.jsonl``: ``train`` (15,000 in-scope rows);
- ``dev.jsonl``: ``val`` (3,000) then ``oos_val`` (100 out-of-scope rows, ``task`` = ``intent`` = ``"oos"``);
- ``train_oos.jsonl``: ``oos_train`` (100 out-of-scope rows, for calibrating an abstention threshold).

The test splits are not written: measure on dev, keep test for a final, independent check.
The domain of each of the 150 intents is CLINC's own grouping (the repository's data/domains.json),
written out below, so the one file is enough; an intent outside it is an error, never guessed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OOS = "oos"

# CLINC150's 10 domains and their 15 intents each (github.com/clinc/oos-eval, data/domains.json).
DOMAINS: dict[str, tuple[str, ...]] = {
    "banking": ("freeze_account", "routing", "pin_change", "bill_due", "pay_bill", "account_blocked", "interest_rate",
                "min_payment", "bill_balance", "transfer", "order_checks", "balance", "spending_history", "transactions",
                "report_fraud"),
    "credit_cards": ("replacement_card_duration", "expiration_date", "damaged_card", "improve_credit_score",
                     "report_lost_card", "card_declined", "credit_limit_change", "apr", "redeem_rewards", "credit_limit",
                     "rewards_balance", "application_status", "credit_score", "new_card", "international_fees"),
    "kitchen_and_dining": ("food_last", "confirm_reservation", "how_busy", "ingredients_list", "calories",
                           "nutrition_info", "recipe", "restaurant_reviews", "restaurant_reservation", "meal_suggestion",
                           "restaurant_suggestion", "cancel_reservation", "ingredient_substitution", "cook_time",
                           "accept_reservations"),
    "home": ("what_song", "play_music", "todo_list_update", "reminder", "reminder_update", "calendar_update",
             "order_status", "update_playlist", "shopping_list", "calendar", "next_song", "order", "todo_list",
             "shopping_list_update", "smart_home"),
    "auto_and_commute": ("current_location", "oil_change_when", "oil_change_how", "uber", "traffic", "tire_pressure",
                         "schedule_maintenance", "gas", "mpg", "distance", "directions", "last_maintenance", "gas_type",
                         "tire_change", "jump_start"),
    "travel": ("plug_type", "travel_notification", "translate", "flight_status", "international_visa", "timezone",
               "exchange_rate", "travel_suggestion", "travel_alert", "vaccines", "lost_luggage", "book_flight",
               "book_hotel", "carry_on", "car_rental"),
    "utility": ("weather", "alarm", "date", "find_phone", "share_location", "timer", "make_call", "calculator",
                "definition", "measurement_conversion", "flip_coin", "spelling", "time", "roll_dice", "text"),
    "work": ("pto_request_status", "next_holiday", "insurance_change", "insurance", "meeting_schedule", "payday",
             "taxes", "income", "rollover_401k", "pto_balance", "pto_request", "w2", "schedule_meeting",
             "direct_deposit", "pto_used"),
    "small_talk": ("who_made_you", "meaning_of_life", "who_do_you_work_for", "do_you_have_pets",
                   "what_are_your_hobbies", "fun_fact", "what_is_your_name", "where_are_you_from", "goodbye",
                   "thank_you", "greeting", "tell_joke", "are_you_a_bot", "how_old_are_you", "what_can_i_ask_you"),
    "meta": ("change_speed", "user_name", "whisper_mode", "yes", "change_volume", "no", "change_language", "repeat",
             "change_accent", "cancel", "sync_device", "change_user_name", "change_ai_name", "reset_settings", "maybe"),
}
INTENT_DOMAIN: dict[str, str] = {intent: domain for domain, intents in DOMAINS.items() for intent in intents}

# output file -> the splits of data_full.json it concatenates, in order
LAYOUT: dict[str, tuple[str, ...]] = {
    "train.jsonl": ("train",),
    "dev.jsonl": ("val", "oos_val"),
    "train_oos.jsonl": ("oos_train",),
}


class ClincFormatError(ValueError):
    """data_full.json is not what the official release looks like."""


def convert_rows(pairs: Any, split: str) -> list[dict[str, str]]:
    """``[[utterance, intent], ...]`` of one split -> ``{"task", "intent", "input"}`` rows."""
    if not isinstance(pairs, list):
        raise ClincFormatError(f"split {split!r} must be a list of [utterance, intent] pairs")
    rows = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise ClincFormatError(f"{split}[{i}] is not an [utterance, intent] pair of strings: {pair!r}")
        text, intent = pair
        if intent == OOS:
            domain = OOS
        elif intent in INTENT_DOMAIN:
            domain = INTENT_DOMAIN[intent]
        else:
            raise ClincFormatError(f"{split}[{i}]: intent {intent!r} is not one of CLINC150's 150 intents")
        rows.append({"task": domain, "intent": intent, "input": text})
    return rows


def convert(data: Any) -> dict[str, list[dict[str, str]]]:
    """data_full.json's content -> ``{output file name: rows}``."""
    if not isinstance(data, dict):
        raise ClincFormatError("data_full.json must hold a JSON object of splits")
    missing = sorted({s for splits in LAYOUT.values() for s in splits} - set(data))
    if missing:
        raise ClincFormatError(f"data_full.json lacks the split(s) {missing}; is this the official data_full.json?")
    return {name: [row for split in splits for row in convert_rows(data[split], split)] for name, splits in LAYOUT.items()}


def write(out: Path, files: dict[str, list[dict[str, str]]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        tmp = out / f".{name}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        tmp.replace(out / name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_full", type=Path, help="the official data/data_full.json of github.com/clinc/oos-eval")
    ap.add_argument("--out", type=Path, required=True, help="folder to write train.jsonl, dev.jsonl, train_oos.jsonl")
    args = ap.parse_args(argv)
    try:
        data = json.loads(args.data_full.read_text(encoding="utf-8"))
        files = convert(data)
    except (OSError, ValueError) as exc:
        print(f"error: {args.data_full}: {exc}", file=sys.stderr)
        return 2
    write(args.out, files)
    for name, rows in files.items():
        n_oos = sum(r["task"] == OOS for r in rows)
        print(f"{args.out / name}: {len(rows)} rows ({n_oos} out of scope)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
