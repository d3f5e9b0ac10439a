"""Kept for plug-ins written before ``prefzoo.api`` existed: the same names, re-exported from there."""
from prefzoo.api import (Algorithm, LossOutput, NoParams, Objective, PairLogps, SeqLogps, UnpairedLogps,  # noqa: F401
                         logratio, pair_metrics, soft_sigmoid_loss)
