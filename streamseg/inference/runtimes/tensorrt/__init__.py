"""TensorRT: plans and their sidecars (``plan``), the library (``library``: the only importer of
``tensorrt``), building (``build``, ``calibrator``) and running (``runtime``)."""
