"""Shared stages that composite algorithms are built from (one file per stage): sampling pairs,
labelling them with feedback, training a reward model, critique and revision, SFT, and optimisation
against a reward. Each stage is a function of a ``Job`` and its inputs; none reads global config."""
