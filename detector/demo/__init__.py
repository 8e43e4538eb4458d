"""The one-command demo (``graffiti demo``): simulated tunnel stream → edge runner → review service,
with events compared against the stream's ground truth. Needs the edge and review extras, no torch."""
