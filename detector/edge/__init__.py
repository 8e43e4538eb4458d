"""The edge runner: unattended graffiti detection on a Raspberry Pi-class device (never imports torch)."""
