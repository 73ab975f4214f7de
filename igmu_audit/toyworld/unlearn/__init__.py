"""Unlearning methods applied to the toy world, and the zoo they build.

Each method edits a loaded ``StableDiffusionPipeline`` in place and returns the changed
tensors as a partial state dict, the format the published method ships:

* :func:`train_esd` (ESD-x / ESD-u, Gandikota et al. 2023): fine-tune with negative guidance;
* :func:`uce_edit` (UCE, Gandikota et al. 2024): closed-form cross-attention k/v edit;
* :func:`token_edit`: rewire the concept's English token embeddings to an anchor word.

``python -m igmu_audit.toyworld.unlearn`` rebuilds ``fixtures/toyworld/zoo`` (see ``zoo.py``).
"""

from igmu_audit.toyworld.unlearn.esd import ESDConfig, train_esd
from igmu_audit.toyworld.unlearn.token_edit import token_edit
from igmu_audit.toyworld.unlearn.uce import UCEConfig, uce_edit
from igmu_audit.toyworld.unlearn.zoo import ZOO, ZooModel, build_zoo

__all__ = [
    "ZOO",
    "ESDConfig",
    "UCEConfig",
    "ZooModel",
    "build_zoo",
    "token_edit",
    "train_esd",
    "uce_edit",
]
