"""echoseg.doppler."""
