"""Synthetic echocardiography generator: A4C cine loops and spectral Doppler with exact truth."""
