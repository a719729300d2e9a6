"""Machine-readable outputs: per-frame results as JSON lines with COCO RLE masks."""

from __future__ import annotations

from streamseg.export.jsonl import ResultsWriter, result_to_dict
from streamseg.export.rle import CocoRle, encode_crop

__all__ = ["CocoRle", "ResultsWriter", "encode_crop", "result_to_dict"]
