"""Torch ops on whole frames that stay in accelerator memory: YUV surfaces, colour conversion.

Shared by capture (NVDEC surfaces), inference (colour conversion straight into the batch input) and
render (overlay, yuv420p for the encoder). Every module imports torch lazily, so the package imports
on a machine without it; the ops run on any torch device, which is how CPU CI checks them.
"""
