"""echoseg.training."""
