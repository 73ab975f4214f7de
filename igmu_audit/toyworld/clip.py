"""Toy CLIP: a tiny ``transformers.CLIPModel`` trained contrastively on toy images and captions.

Why: Stable Diffusion conditions on a CLIP text tower, and CLIP scores / image features are
what the metrics read. Training the text tower contrastively over all seven languages makes
synonyms and translations land near each other, as they do in the real CLIP; shared
per-attribute heads keep every attribute (shape too, not only the easy colour) separable in
the text tower, which the UNet needs to draw what is asked. Its text tower
initialises the diffusion pipeline's ``text_encoder`` (frozen in stage 1, fine-tuned with the
UNet in stage 2); ``fixtures/toyworld/clip/`` keeps the contrastive towers as trained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from igmu_audit._paths import fixtures_dir
from igmu_audit.pipelines.tokenizer import MAX_LENGTH, build_clip_tokenizer
from igmu_audit.toyworld.data import caption_and_mentions
from igmu_audit.toyworld.vocabulary import ATTRIBUTES, load_vocabulary

if TYPE_CHECKING:
    from collections.abc import Callable

    from transformers import CLIPModel, CLIPTextModel, CLIPTokenizer

TEXT_DIM = 64
PROJECTION_DIM = 64
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
#: Languages used in training; English gets half of the captions.
LANGUAGES = ("en", "fr", "es", "de", "zh", "ja", "ru")


def text_config() -> dict[str, Any]:
    """The text tower: SD's shape (vocab 49,408, 77 positions) at toy width."""
    return {
        "vocab_size": 49408,
        "hidden_size": TEXT_DIM,
        "intermediate_size": 4 * TEXT_DIM,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": MAX_LENGTH,
        "projection_dim": PROJECTION_DIM,
        "bos_token_id": 49406,
        "eos_token_id": 49407,
        "pad_token_id": 49407,
    }


def vision_config() -> dict[str, Any]:
    """The vision tower: a 2-layer ViT over 4x4 patches of a 32x32 image."""
    return {
        "image_size": 32,
        "patch_size": 4,
        "hidden_size": 64,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "projection_dim": PROJECTION_DIM,
    }


def build_clip_model(seed: int = 0) -> CLIPModel:
    """A freshly initialised toy ``CLIPModel``."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=text_config(),
        vision_config=vision_config(),
        projection_dim=PROJECTION_DIM,
    )
    return CLIPModel(config)


class ToyClip:
    """Image and text embeddings in the toy CLIP space (unit-normalised).

    Attributes:
        name: the feature space, reported by every metric that uses it.
        model: the underlying ``transformers.CLIPModel``.
        tokenizer: the 49,408-token CLIP tokenizer.
    """

    name = "toyworld-clip"

    def __init__(self, model: CLIPModel, tokenizer: CLIPTokenizer) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer

    def _pixels(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"`images` must be float (N, 3, H, W) in [0, 1]; got shape {tuple(images.shape)}"
            )
        if images.shape[-2:] != (32, 32):
            images = nn.functional.interpolate(
                images.float(),
                size=(32, 32),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
        return (images.float() - 0.5) / 0.5

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Projected image embeddings (with gradients; used in training)."""
        out = self.model.get_image_features(pixel_values=self._pixels(images))
        out = getattr(out, "pooler_output", out)
        return nn.functional.normalize(out, dim=-1)

    def text_features(self, texts: list[str]) -> torch.Tensor:
        """Projected caption embeddings (with gradients; used in training)."""
        tokens = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=MAX_LENGTH,
            return_tensors="pt",
        )
        out = self.model.get_text_features(
            input_ids=tokens.input_ids, attention_mask=tokens.attention_mask
        )
        out = getattr(out, "pooler_output", out)
        return nn.functional.normalize(out, dim=-1)

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """float (N, 3, H, W) in [0, 1] -> unit vectors (N, 64)."""
        return self.image_features(images)

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """list of N prompts -> unit vectors (N, 64)."""
        if isinstance(texts, str) or not texts:
            raise ValueError(
                f"`texts` must be a non-empty list of strings, got {texts!r}"
            )
        return self.text_features(texts)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Feature-extractor protocol: image features (N, 64)."""
        return self.encode_image(images)


def _caption_batch(
    labels: np.ndarray, rng: np.random.Generator
) -> tuple[list[str], list[tuple[str, ...]]]:
    vocab = load_vocabulary()
    texts, mentions = [], []
    for row in labels:
        names = [vocab.classes(a)[int(i)] for a, i in zip(ATTRIBUTES, row, strict=True)]
        language = "en" if rng.random() < 0.5 else str(rng.choice(LANGUAGES[1:]))
        text, mentioned = caption_and_mentions(*names, rng=rng, language=language)
        texts.append(text)
        mentions.append(mentioned)
    return texts, mentions


def _targets(labels: torch.Tensor, mentions: list[tuple[str, ...]]) -> torch.Tensor:
    # A caption matches every image that agrees on the attributes it names (multi-positive).
    match = torch.ones(len(labels), len(labels), dtype=torch.bool)
    for k, attribute in enumerate(ATTRIBUTES):
        named = torch.tensor([attribute in m for m in mentions])
        same = labels[:, k][:, None] == labels[:, k][None, :]
        match &= same | ~named[:, None]
    return match.float()


def _attribute_heads() -> nn.ModuleList:
    vocab = load_vocabulary()
    return nn.ModuleList(
        nn.Linear(PROJECTION_DIM, len(vocab.classes(a))) for a in ATTRIBUTES
    )


def _attribute_loss(
    heads: nn.ModuleList,
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    labels: torch.Tensor,
    mentions: list[tuple[str, ...]],
) -> torch.Tensor:
    # Why: with contrastive loss alone the towers settle on the easy attributes (colour,
    # texture) and the text tower maps "circle" and "square" to the same states, so the
    # UNet conditioned on it cannot tell them apart. Shared heads that must read every
    # attribute from both towers keep each one separable (and the two spaces aligned).
    loss = image_emb.new_zeros(())
    for k, (attribute, head) in enumerate(zip(ATTRIBUTES, heads, strict=True)):
        target = labels[:, k].long()
        loss = loss + nn.functional.cross_entropy(head(image_emb) * 10.0, target)
        named = torch.tensor([attribute in m for m in mentions])
        if named.any():
            loss = loss + nn.functional.cross_entropy(
                head(text_emb[named]) * 10.0, target[named]
            )
    return loss / len(ATTRIBUTES)


def train_clip(
    images: torch.Tensor,
    labels: np.ndarray,
    *,
    steps: int,
    batch_size: int = 256,
    seed: int = 0,
    attribute_weight: float = 1.0,
    progress: Callable[[int, float], None] | None = None,
) -> ToyClip:
    """Contrastive training with multi-positive targets (captions x images sharing attributes).

    ``attribute_weight`` adds per-attribute classification heads on both towers' embeddings
    (discarded after training), so every attribute stays separable in the text tower.
    """
    clip = ToyClip(build_clip_model(seed), build_clip_tokenizer())
    model = clip.model.train()
    heads = _attribute_heads()
    optimiser = torch.optim.AdamW(
        [*model.parameters(), *heads.parameters()], lr=1e-3, weight_decay=0.01
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=1e-3, total_steps=steps, pct_start=0.1
    )
    rng = np.random.default_rng(seed)
    label_tensor = torch.from_numpy(labels)
    for step in range(steps):
        index = rng.integers(0, len(images), size=batch_size)
        texts, mentions = _caption_batch(labels[index], rng)
        flip = torch.from_numpy(rng.random(batch_size) < 0.5)
        batch = images[index]
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        image_emb = clip.image_features(batch)
        text_emb = clip.text_features(texts)
        logits = model.logit_scale.exp().clamp(max=100) * text_emb @ image_emb.T
        match = _targets(label_tensor[index], mentions)
        loss_t = (
            -(match / match.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
        )
        loss_i = (
            -(match.T / match.T.sum(1, keepdim=True) * logits.T.log_softmax(1))
            .sum(1)
            .mean()
        )
        loss = (loss_t + loss_i) / 2
        if attribute_weight:
            loss = loss + attribute_weight * _attribute_loss(
                heads, image_emb, text_emb, label_tensor[index], mentions
            )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress is not None:
            progress(step, loss.item())
    model.eval()
    return clip


def save_clip(clip: ToyClip, folder: Path) -> Path:
    """Write the whole toy CLIP (fp16 safetensors) and its config to ``folder``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in clip.model.state_dict().items()
    }
    save_file(state, str(folder / WEIGHTS_NAME))
    config = {
        "text_config": text_config(),
        "vision_config": vision_config(),
        "projection_dim": PROJECTION_DIM,
        "stored_dtype": "float16",
    }
    (folder / CONFIG_NAME).write_text(
        json.dumps(config, indent=2) + "\n", encoding="utf-8"
    )
    return folder


def load_toy_clip(
    folder: Path | None = None, text_encoder: CLIPTextModel | None = None
) -> ToyClip:
    """Load the shipped toy CLIP (float32, eval mode).

    Args:
        folder: a toy-world folder holding ``clip/`` (default: the shipped one).
        text_encoder: swap in this text tower (e.g. an edited one from an unlearned model).
    """
    from safetensors.torch import load_file

    root = Path(folder) if folder is not None else fixtures_dir() / "toyworld"
    model = build_clip_model()
    state = {
        k: v.float() for k, v in load_file(str(root / "clip" / WEIGHTS_NAME)).items()
    }
    model.load_state_dict(state)
    if text_encoder is not None:
        model.text_model.load_state_dict(text_encoder.state_dict())
    return ToyClip(model.float().eval(), build_clip_tokenizer())
