"""Writes tiny_pairs.jsonl: 64 short preference pairs for the tiny-model recipes and tests.
Run: python recipes/data/make_tiny_pairs.py (deterministic)."""
import json
import random
from pathlib import Path

objects = ["sky", "grass", "sun", "snow", "coal", "rose", "sea", "lemon"]
colors = {"sky": "blue", "grass": "green", "sun": "yellow", "snow": "white", "coal": "black", "rose": "red",
          "sea": "blue", "lemon": "yellow"}
asks = ["what color is the {o} ?", "tell me the color of the {o} .", "which color does the {o} have ?",
        "name the color of the {o} .", "do you know the color of the {o} ?", "say the color of the {o} .",
        "what is the color of the {o} ?", "color of the {o} ?"]
rejected = ["i do not know .", "that is hard to say , maybe it is some color or another color .",
            "colors are a matter of taste .", "i can not answer that ."]
rng = random.Random(0)
rows = []
for a in asks:
    for o in objects:
        rows.append({"prompt": a.format(o=o), "chosen": f"the {o} is {colors[o]} .", "rejected": rng.choice(rejected)})
rng.shuffle(rows)
out = Path(__file__).with_name("tiny_pairs.jsonl")
out.write_text("".join(json.dumps(r) + "\n" for r in rows))
print(f"wrote {len(rows)} pairs to {out}")
