"""Built-in algorithms, one file each; each file registers its class with ``@register(name)``.

``MANIFEST`` lets the registry list and find them without importing any: ``name -> "module:Class"``.
A test imports every module here and checks that the decorators register exactly this table, so a
new file must add its line (and a stale line fails the test).
"""
MANIFEST = {
    "aot": "prefzoo.algos.aot:AOT",
    "apo-down": "prefzoo.algos.apo_down:APODown",
    "apo-zero": "prefzoo.algos.apo_zero:APOZero",
    "bco": "prefzoo.algos.bco:BCO",
    "cai": "prefzoo.algos.cai:ConstitutionalAI",
    "cai-dpo": "prefzoo.algos.cai_dpo:CAIDPO",
    "cdpo": "prefzoo.algos.cdpo:CDPO",
    "discopop": "prefzoo.algos.discopop:DiscoPOP",
    "dpo": "prefzoo.algos.dpo:DPO",
    "exo": "prefzoo.algos.exo:EXO",
    "grpo": "prefzoo.algos.grpo:GRPO",
    "ipo": "prefzoo.algos.ipo:IPO",
    "kto": "prefzoo.algos.kto:KTO",
    "nca": "prefzoo.algos.nca:NCA",
    "online-dpo": "prefzoo.algos.online_dpo:OnlineDPO",
    "orpo": "prefzoo.algos.orpo:ORPO",
    "ppo": "prefzoo.algos.ppo:PPO",
    "rdpo": "prefzoo.algos.rdpo:RDPO",
    "remax": "prefzoo.algos.remax:ReMax",
    "reward-model": "prefzoo.algos.reward_model:RewardModelAlgorithm",
    "rlaif": "prefzoo.algos.rlaif:RLAIF",
    "rloo": "prefzoo.algos.rloo:RLOO",
    "sft": "prefzoo.algos.sft:SFT",
    "simpo": "prefzoo.algos.simpo:SimPO",
    "slic": "prefzoo.algos.slic:SLiC",
    "sppo-hard": "prefzoo.algos.sppo_hard:SPPOHard",
}
