"""echoseg.evaluation."""
