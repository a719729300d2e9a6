"""Embed a picture once, then decode any number of prompts against that embedding.

The work per picture is Ultralytics' SAM predictor's (same letterbox to 1024, same normalisation, same
network calls), less what a stream cannot afford: the embedding is computed once and shared by every
prompt of the frame, prompts of one shape go through the mask decoder in one call, and masks are made
at frame resolution only inside their own box (``upsample``). On a GPU the network runs in FP16.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamseg.config.devices import parse_device
from streamseg.inference.sam.checkpoints import SamSpec, load_sam_network, resolve_sam_checkpoint
from streamseg.inference.sam.prompts import Prompt
from streamseg.inference.sam.upsample import MaskUpsampler
from streamseg.types import FloatArray, InstanceMasks, UInt8Array

logger = logging.getLogger(__name__)

INPUT_SIZE = 1024
PAD_VALUE = 114  # Ultralytics' LetterBox fill, before normalisation
PIXEL_MEAN = (123.675, 116.28, 103.53)  # RGB
PIXEL_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class Embedding:
    """One picture's image features and the geometry to map prompts into the network input."""

    features: Any
    frame_hw: tuple[int, int]
    scale: float  # network input pixels per frame pixel


@dataclass(frozen=True)
class SamOutput:
    """One mask per prompt, in prompt order: crops, the box of each mask, and SAM's predicted IoU."""

    masks: InstanceMasks
    xyxy: FloatArray
    score: FloatArray

    def __len__(self) -> int:
        return len(self.score)


class SamPredictor:
    """A loaded SAM on one device. Not thread-safe: use it from one thread (the inference thread)."""

    def __init__(self, net: Any, spec: SamSpec, device: str = "cpu", half: bool | None = None) -> None:
        import torch  # noqa: PLC0415

        kind, index = parse_device(device)
        self._torch = torch
        self.spec = spec
        self.device = torch.device(kind, index) if kind == "cuda" else torch.device("cpu")
        self.half = kind == "cuda" if half is None else half
        self.dtype = torch.float16 if self.half else torch.float32
        self.net = net.to(self.device).to(self.dtype).eval()
        self._mean = torch.tensor(PIXEL_MEAN, device=self.device).view(-1, 1, 1)
        self._std = torch.tensor(PIXEL_STD, device=self.device).view(-1, 1, 1)
        self._upsamplers: dict[tuple[int, int], MaskUpsampler] = {}
        sam2 = spec.family == "sam2"
        self._prompt_encoder = net.sam_prompt_encoder if sam2 else net.prompt_encoder
        self._mask_decoder = net.sam_mask_decoder if sam2 else net.mask_decoder

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str, engines_dir: Path, device: str = "cpu", flag: str = "--model"
    ) -> SamPredictor:
        """Resolve (download a known name once), identify and load a SAM checkpoint."""
        net, spec = load_sam_network(resolve_sam_checkpoint(checkpoint, engines_dir, flag))
        return cls(net, spec, device)

    def segment(self, image: UInt8Array, prompts: Sequence[Prompt]) -> SamOutput:
        return self.decode(self.embed(image), prompts)

    def embed(self, image: UInt8Array) -> Embedding:
        """The image encoder on the letterboxed picture (BGR uint8 in, as decoded)."""
        torch = self._torch
        h, w = image.shape[:2]
        scale = min(INPUT_SIZE / h, INPUT_SIZE / w)
        new_w, new_h = max(round(w * scale), 1), max(round(h * scale), 1)
        resized = image if (new_h, new_w) == (h, w) else cv2.resize(image, (new_w, new_h))
        boxed = np.full((INPUT_SIZE, INPUT_SIZE, 3), PAD_VALUE, np.uint8)
        boxed[:new_h, :new_w] = resized
        chw = torch.from_numpy(np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1))).to(self.device)
        x = ((chw - self._mean) / self._std)[None].to(self.dtype)
        with torch.inference_mode():
            features = self._image_features(x)
        return Embedding(features, (h, w), scale)

    def decode(self, embedding: Embedding, prompts: Sequence[Prompt]) -> SamOutput:
        """One mask per prompt. Prompts whose embeddings have the same number of tokens share one
        mask-decoder call (all boxes of a frame always do)."""
        torch = self._torch
        if not prompts:
            return SamOutput(
                InstanceMasks.empty(embedding.frame_hw), np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
            )
        kinds: dict[tuple[str, int], list[int]] = {}
        for i, prompt in enumerate(prompts):
            kinds.setdefault(prompt.kind, []).append(i)
        calls: dict[int, list[tuple[list[int], Any, Any]]] = {}  # tokens -> [(prompt indices, sparse, dense)]
        with torch.inference_mode():
            for indices in kinds.values():
                sparse, dense = self._encode([prompts[i] for i in indices], embedding.scale)
                calls.setdefault(int(sparse.shape[1]), []).append((indices, sparse, dense))
            order: list[int] = []
            logits, scores = [], []
            for groups in calls.values():
                sparse = torch.cat([g[1] for g in groups])
                dense = torch.cat([g[2] for g in groups])
                masks, iou = self._decode(embedding.features, sparse, dense)
                order += [i for g in groups for i in g[0]]
                logits.append(masks[:, 0])
                scores.append(iou[:, 0])
            ranked = torch.as_tensor(np.argsort(order), device=self.device)
            all_logits = torch.cat(logits)[ranked]
            all_scores = torch.cat(scores)[ranked].float().cpu().numpy()
            masks_out, boxes = self._upsampler(embedding.frame_hw)(all_logits)
        return SamOutput(masks_out, boxes, all_scores.astype(np.float32))

    # -- the network, per family -----------------------------------------------------------------

    def _image_features(self, x: Any) -> Any:
        net = self.net
        if self.spec.family == "sam":
            return net.image_encoder(x)
        # SAM 2, as Ultralytics' SAM2Predictor: backbone, then the "no memory" embedding added.
        _, feats, _, _ = net._prepare_backbone_features(net.forward_image(x))
        if net.directly_add_no_mem_embed:
            feats[-1] = feats[-1] + net.no_mem_embed
        sizes = [(INPUT_SIZE // s, INPUT_SIZE // s) for s in (4, 8, 16)]
        maps = [f.permute(1, 2, 0).view(1, -1, *hw) for f, hw in zip(feats, sizes, strict=True)]
        return {"image_embed": maps[-1], "high_res_feats": maps[:-1]}

    def _encode(self, prompts: Sequence[Prompt], scale: float) -> Any:
        """(sparse, dense) prompt embeddings for prompts of one kind."""
        torch = self._torch
        if prompts[0].box is not None:
            boxes = torch.tensor([p.box for p in prompts], dtype=self.dtype, device=self.device) * scale
            if self.spec.family == "sam":
                return self._prompt_encoder(points=None, boxes=boxes, masks=None)
            corners = boxes.view(-1, 2, 2)  # SAM 2 takes a box as its two corners, labels 2 and 3
            labels = torch.tensor([[2, 3]], dtype=torch.int32, device=self.device).expand(len(prompts), -1)
            return self._prompt_encoder(points=(corners, labels), boxes=None, masks=None)
        points = torch.tensor([p.points for p in prompts], dtype=self.dtype, device=self.device) * scale
        labels = torch.tensor([p.labels for p in prompts], dtype=torch.int32, device=self.device)
        return self._prompt_encoder(points=(points, labels), boxes=None, masks=None)

    def _decode(self, features: Any, sparse: Any, dense: Any) -> tuple[Any, Any]:
        pe = self._prompt_encoder.get_dense_pe()
        if self.spec.family == "sam":
            return self._mask_decoder(  # type: ignore[no-any-return]
                image_embeddings=features,
                image_pe=pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )
        masks, iou, _, _ = self._mask_decoder(
            image_embeddings=features["image_embed"],
            image_pe=pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
            repeat_image=sparse.shape[0] > 1,
            high_res_features=features["high_res_feats"],
        )
        return masks, iou

    def _upsampler(self, frame_hw: tuple[int, int]) -> MaskUpsampler:
        upsampler = self._upsamplers.get(frame_hw)
        if upsampler is None:
            upsampler = MaskUpsampler(frame_hw, INPUT_SIZE, self.device)
            self._upsamplers[frame_hw] = upsampler
        return upsampler
