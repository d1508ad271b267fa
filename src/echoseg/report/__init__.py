"""echoseg.report."""
