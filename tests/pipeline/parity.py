"""Results files of two runs compared instance by instance, within tolerances: float sums in another
order (batches form as the threads happen to run) may move a score in the last digit or flip a mask
pixel on its threshold."""

from __future__ import annotations

from typing import Any

import numpy as np


def assert_same_lines(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    from pycocotools import mask as rle

    assert [(x["source"], x["frame"], x["pts"]) for x in a] == [
        (y["source"], y["frame"], y["pts"]) for y in b
    ]
    for x, y in zip(a, b, strict=True):
        assert [i["class_id"] for i in x["instances"]] == [i["class_id"] for i in y["instances"]], x["frame"]
        for i, j in zip(x["instances"], y["instances"], strict=True):
            assert abs(i["score"] - j["score"]) < 1e-3 and np.allclose(i["xyxy"], j["xyxy"], atol=0.1)
            mi, mj = (rle.decode({**m["mask"], "counts": m["mask"]["counts"].encode()}) for m in (i, j))
            assert (mi & mj).sum() / max(1, (mi | mj).sum()) > 0.99, (x["source"], x["frame"])
        assert [i["track_id"] for i in x["instances"]] == [i["track_id"] for i in y["instances"]]
