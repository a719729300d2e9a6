"""Past one machine: camera groups placed on the nodes of a Ray cluster (``streamseg cluster``).

A detached controller actor splits the cameras into groups and runs one actor per group; each group
actor runs the ordinary single-machine ``Pipeline`` on its node, next to its GPU. When a node or a
group actor dies, the controller starts the group again wherever there is room. Decoded frames never
leave a node: only status, metrics, results files on the node's disk and preview JPEGs (on demand)
are produced, and only status, metrics and JPEGs cross the network.

Ray is optional (``pip install 'streamseg[cluster]'``) and imported only by the code that talks to it.
"""
