"""Thread 2: batching, preprocessing, the model runtime, and postprocessing into ``SegResult``."""
