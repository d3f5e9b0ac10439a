"""Shared stages that composite algorithms are built from (one file per stage): prompts and pairs
(``sampling``: ``prompt_rows``, ``sample_pairs``, ``label_pairs``), a reward model (``reward``),
critique and revision (``critique``), and learning from AI-labelled pairs with any registered
pairwise or online learner (``learn``). Each stage is a function of a ``Job`` and its inputs; none
reads global config."""
