"""echoseg.web."""
