"""echoseg.atria."""
