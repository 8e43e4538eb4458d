"""The delivery wing of the edge: the durable outbox and the sender that drains it into the sinks.

- :mod:`~detector.edge.delivery.config`: the ``delivery`` table of edge.toml (outbox paths, disk cap, sinks);
- :mod:`~detector.edge.delivery.outbox`: every event and heartbeat stored in SQLite before any send,
  with its disk-cap policy (:mod:`~detector.edge.delivery.cap`) and its repair after damage
  (:mod:`~detector.edge.delivery.repair`);
- :mod:`~detector.edge.delivery.sender`: the background threads that deliver each item to every sink,
  retrying for as long as it takes;
- :mod:`~detector.edge.delivery.sinks` (HTTP to the review service, a local folder) and
  :mod:`~detector.edge.delivery.mqtt` (an MQTT broker; imports paho only when configured).

Nothing here knows about cameras or models: the camera side hands over finished events.
"""
