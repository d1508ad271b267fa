"""echoseg's vocabulary, one place for each fact: measurement families, tasks, Doppler sites, units,
the atria label map and the research-use disclaimer.

Example::

    >>> unit_of("la_area"), unit_of("lvot_vti"), family_of("pv_vti"), site_of("pv_vti")
    ('cm2', 'cm', 'doppler', 'pv')
"""
from __future__ import annotations

FAMILIES = ("atria", "doppler")  # one package each: echoseg.atria, echoseg.doppler
TASKS_ATRIA = ("la_area", "ra_area")
TASKS_DOPPLER = ("mv_vti", "av_vti", "lvot_vti", "rvot_vti", "pv_vti")
TASKS = TASKS_ATRIA + TASKS_DOPPLER
SITES = tuple(t.removesuffix("_vti") for t in TASKS_DOPPLER)  # mv, av, lvot, rvot, pv
# Each site's flow direction in its standard view (+1 toward the transducer, -1 away): mitral inflow
# runs toward the apical probe; LV outflow and aortic ejection away from it; RV outflow and
# pulmonary ejection away from the parasternal probe. A calibrated velocity's sign is physical, so an
# inverted display does not change it.
SITE_DIRECTION = {"mv": 1, "av": -1, "lvot": -1, "rvot": -1, "pv": -1}
# Spectral Doppler that is NOT one of the five VTI sites: refused, with what it looks like.
NON_TARGETS = {"tr": "tricuspid regurgitation", "mr": "mitral regurgitation", "ar": "aortic regurgitation",
               "pr": "pulmonary regurgitation", "tdi": "tissue Doppler", "tv_inflow": "tricuspid inflow",
               "pulm_vein": "pulmonary vein flow", "hepatic_vein": "hepatic vein flow"}
SITE_CLASSES = SITES + tuple(NON_TARGETS)  # the Doppler network's site head, in this order
# Non-target flows recognised only by the words on the screen (the network has no class for them).
PRINTED_NON_TARGETS = {"laa": "left atrial appendage flow", "caval": "caval vein flow",
                       "shunt": "shunt flow (ductus or septal defect)"}
NON_TARGET_NAMES = {**NON_TARGETS, **PRINTED_NON_TARGETS}  # every refused flow's name
# How a refusal quotes the label it read (echoseg's own spelling, never the screen's text)
NON_TARGET_LABELS = {"tr": "TR", "mr": "MR", "ar": "AR", "pr": "PR", "tdi": "e'/a'/s'", "tv_inflow": "TV",
                     "pulm_vein": "P vein", "hepatic_vein": "HV", "laa": "LAA", "caval": "SVC/IVC",
                     "shunt": "PDA/VSD/ASD"}
FAMILY_UNIT = {"atria": "cm2", "doppler": "cm"}  # unit column of measurements.csv
DISPLAY_UNIT = {"cm2": "cm²", "cm": "cm", "": ""}  # how reports print a unit

# Atria label map: the atria network's classes and the label values of labelled masks.
ATRIA_CLASSES = ("background", "LA", "RA", "LV", "RV")
LABEL_VALUES = {name: k for k, name in enumerate(ATRIA_CLASSES) if k}  # LA 1, RA 2, LV 3, RV 4
ATRIUM_LABEL = {"la_area": LABEL_VALUES["LA"], "ra_area": LABEL_VALUES["RA"]}

DISCLAIMER = "Research use only. Not a medical device; values are not clinically validated."


def family_of(task: str) -> str:
    """The family ("atria" | "doppler") that measures ``task``; ValueError for an unknown task."""
    if task in TASKS_ATRIA:
        return "atria"
    if task in TASKS_DOPPLER:
        return "doppler"
    raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")


def unit_of(task: str) -> str:
    """Unit of ``task``'s value as measurements.csv writes it ("cm2" | "cm"); "" for an unknown task."""
    return FAMILY_UNIT[family_of(task)] if task in TASKS else ""


def site_of(task: str) -> str:
    """Doppler site of a VTI task ("lvot_vti" -> "lvot"); ValueError for other tasks."""
    if task not in TASKS_DOPPLER:
        raise ValueError(f"task must be one of {', '.join(TASKS_DOPPLER)}, not {task!r}")
    return task.removesuffix("_vti")
