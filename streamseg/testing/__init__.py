"""The harness the tests and the tools share, shipped in the package as Ray ships ``ray.cluster_utils``:
the shared media (``assets``), generated videos and paced test patterns (``media``), a real GStreamer
RTSP server (``rtsp``), a Ray cluster of several nodes on one machine (``ray_cluster``) and networks
with random weights from the libraries' own builders (``models``). Nothing here is imported by the
product itself."""
