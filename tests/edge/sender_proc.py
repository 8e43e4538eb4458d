"""Run the real sender in its own process (so a test can ``kill -9`` it mid-send and start it again).

Usage: python -m tests.edge.sender_proc DATA_DIR URL TOKEN — drains DATA_DIR's outbox to the HTTP
sink and exits 0 once nothing is pending (exit 1 if that takes longer than 60 s).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from detector.config import from_mapping
from detector.edge.delivery.config import DeliveryConfig
from detector.edge.delivery.sender import Delivery, open_outbox


def main(argv: list[str]) -> int:
    data_dir, url, token = Path(argv[0]), argv[1], argv[2]
    logging.basicConfig(level=logging.INFO, format="sender %(levelname)s %(message)s")
    cfg = from_mapping(DeliveryConfig, {
        "retry_initial_s": 0.05, "retry_max_s": 0.2, "http": {"url": url, "token": token, "timeout_s": 5},
    }, "delivery").resolved(data_dir)
    outbox = open_outbox(cfg)
    delivery = Delivery(cfg, outbox, device="tunnel-7")
    delivery.start()
    ok = delivery.flush(60.0)
    delivery.stop(5.0)
    outbox.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
