"""Adversarial prompt attacks that try to bring an erased concept back.

Every attack follows the ``Attack`` protocol: ``run(pipeline, prompts, *, detector, seeds,
original=None, settings=None, cache=None) -> AttackResult``, spends at most its
``AttackBudget`` per prompt, and returns real prompt strings (decoded from real vocabulary
token ids) with their detector scores per seed and the pre- vs post-attack success counts.

* ``UnlearnDiffAtk``: the unlearned denoiser as a classifier (gradient, PEZ projection);
* ``P4D``: match the original model's noise prediction (gradient, PEZ projection);
* ``RingABell``: concept vector in the text encoder, genetic search (text encoder only);
* ``RandomSearch``: random / greedy black-box token search (the baseline);
* ``Replay``: published attack prompt files (``load_attack_prompts``).

Importing this package does not import torch. Measured figures on the toy world are in
``igmu_audit/attacks/README.md``.
"""

from igmu_audit.attacks.base import Attack, AttackBudget, AttackResult, PromptAttack
from igmu_audit.attacks.p4d import P4D
from igmu_audit.attacks.random_search import RandomSearch
from igmu_audit.attacks.replay import AttackPrompt, Replay, load_attack_prompts
from igmu_audit.attacks.ring_a_bell import RingABell
from igmu_audit.attacks.unlearndiffatk import UnlearnDiffAtk

__all__ = [
    "P4D",
    "Attack",
    "AttackBudget",
    "AttackPrompt",
    "AttackResult",
    "PromptAttack",
    "RandomSearch",
    "Replay",
    "RingABell",
    "UnlearnDiffAtk",
    "load_attack_prompts",
]
