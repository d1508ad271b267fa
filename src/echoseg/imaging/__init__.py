"""echoseg.imaging."""
