from prefzoo.models.policy import (ALIASES, Encoded, ModelError, Policy, SeqBatch, completion_text, pad_sequences,
                                   token_logps)
from prefzoo.models import aliases  # noqa: E402,F401  registers the offline aliases into ALIASES

__all__ = ["ALIASES", "Encoded", "ModelError", "Policy", "SeqBatch", "completion_text", "pad_sequences",
           "token_logps"]
