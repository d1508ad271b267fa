"""echoseg.io."""
