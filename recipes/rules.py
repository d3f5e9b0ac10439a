"""Rule rewards for the tiny online recipes: ``fn(prompt, response) -> float``.

A randomly initialised tiny model says "blue" about once in every ~50 words, so these start low and
have room to rise; the rise is easy to read in metrics.jsonl.
"""
TARGET = "blue"


def blue_fraction(prompt, response: str) -> float:
    """The fraction of the response's words that are "blue" (0 for an empty response)."""
    words = response.split()
    return sum(w == TARGET for w in words) / len(words) if words else 0.0


def says_blue_briefly(prompt, response: str) -> float:
    """+1 if the response contains "blue" and has at most 4 words, else 0."""
    words = response.split()
    return float(TARGET in words and len(words) <= 4)


def length_score(prompt, response: str) -> float:
    """The number of words over 8: a dense reward (almost every response scores), for tests that need
    every minibatch to carry a real gradient rather than float noise."""
    return len(response.split()) / 8.0


def blue_count(prompt, response: str) -> float:
    """The number of "blue" words: as a Bradley-Terry preference, sigmoid(r(y) - r(y')), one more "blue"
    is P = 0.73, a sharper pairwise signal than ``blue_fraction``'s differences of a few hundredths."""
    return float(response.split().count(TARGET))
