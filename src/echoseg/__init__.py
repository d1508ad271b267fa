"""echoseg: atrial areas and Doppler VTI from echocardiography DICOM. Research use only; not a medical device."""
from __future__ import annotations

__version__ = "0.1.0"
