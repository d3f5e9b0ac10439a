from prefzoo.models.policy import (ALIASES, Encoded, ModelError, Policy, SeqBatch, completion_text, pad_sequences,
                                   token_logps)

__all__ = ["ALIASES", "Encoded", "ModelError", "Policy", "SeqBatch", "completion_text", "pad_sequences",
           "token_logps"]
