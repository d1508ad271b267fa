"""DICOM Structured Reports: one Comprehensive SR per study, a TID 1500 Measurement Report built with highdicom.

Each passing measurement becomes a TID 1501 measurement group (one per source file and task) holding
TID 300 numeric measurements with a coded concept, a UCUM unit, the finding site, the source image
(SOP Class/Instance UID, plus the frame for atria) and the algorithm (name, version, weights hash).
Study indices (stroke volume, cardiac output, AVA) form one more group that references the images
their inputs came from. QC failures are left out. The patient and study modules are copied from the
source images (highdicom copies them from the first evidence dataset) so that an archive files the SR
with the study; nothing else in the SR carries patient data.

Where every code comes from is listed in :data:`CONCEPTS` and docs/dicom.md.

Example::

    >>> from echoseg.report.sr import CONCEPTS
    >>> CONCEPTS["lvot_vti"].name.value, CONCEPTS["lvot_vti"].unit.value
    ('80030-0', 'cm')
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.sr.coding import Code

from echoseg.types import AtriaDetails, DopplerDetails, FileResult, Measurement
from echoseg.vocab import TASKS

_log = logging.getLogger("echoseg.report")

# ------------------------------------------------------------------------------------ the codes
_CORE = "DICOM PS3.16 CID 12300 Core Echo Measurement"
_ORIFICE = "DICOM PS3.16 CID 12222 Orifice Flow Property"
_SITE = "DICOM PS3.16 CID 12305 Basic Echo Anatomic Site"

SITES: dict[str, Code] = {
    "la": Code("82471001", "SCT", "Left atrium"),
    "ra": Code("73829009", "SCT", "Right atrium"),
    "mv": Code("91134007", "SCT", "Mitral Valve"),
    "av": Code("34202007", "SCT", "Aortic Valve"),
    "lvot": Code("13418002", "SCT", "Left ventricle outflow tract"),
    "rvot": Code("44627009", "SCT", "Right ventricle outflow tract"),
    "pv": Code("39057004", "SCT", "Pulmonic Valve"),
}
"""Finding sites, SNOMED CT codes of CID 12305 (Basic Echo Anatomic Site)."""

UNITS: dict[str, Code] = {
    "cm2": Code("cm2", "UCUM", "cm2"), "cm": Code("cm", "UCUM", "cm"),
    "cm/s": Code("cm/s", "UCUM", "cm/s"), "mmHg": Code("mm[Hg]", "UCUM", "mmHg"),
    "ml": Code("mL", "UCUM", "mL"), "l/min": Code("L/min", "UCUM", "L/min"),
    "/min": Code("/min", "UCUM", "/min"),
}
"""UCUM units (coding scheme designator "UCUM", PS3.16 CID 7181)."""

METHODS: dict[str, Code] = {
    "area_length": Code("125205", "DCM", "Area-Length Single Plane"),
    "doppler_volume_flow": Code("125219", "DCM", "Doppler Volume Flow"),
    "continuity_vti": Code("125215", "DCM", "Continuity Equation by Velocity Time Integral"),
    "simplified_bernoulli": Code("125218", "DCM", "Simplified Bernoulli"),
}
"""Measurement methods of CID 12227 (Echocardiography Measurement Method)."""

PROCEDURE = Code("40701008", "SCT", "Echocardiography")  # CID 12001 Ultrasound Procedure


@dataclass(frozen=True)
class Concept:
    """One reported quantity: its coded name, UCUM unit, finding site, optional method, and the code's source."""

    name: Code
    unit: Code
    site: Code
    source: str
    method: Code | None = None


def _c(code: str, scheme: str, meaning: str, unit: str, site: str, source: str, method: str | None = None) -> Concept:
    return Concept(Code(code, scheme, meaning), UNITS[unit], SITES[site], source,
                   METHODS[method] if method else None)


CONCEPTS: dict[str, Concept] = {
    "la_area": _c("79974-2", "LN", "Left atrial end systolic area 4C", "cm2", "la", _CORE),
    "ra_area": _c("80075-5", "LN", "Right atrial end systolic area 4C", "cm2", "ra", _CORE),
    "la_volume": _c("399235004", "SCT", "Left Atrium Systolic Volume", "ml", "la",
                    "DICOM PS3.16 CID 12205 Echocardiography Left Atrium Measurement", "area_length"),
    "mv_vti": _c("79914-8", "LN", "Mitral valve VTI", "cm", "mv", _CORE),
    "av_vti": _c("79965-0", "LN", "Aortic valve VTI", "cm", "av", _CORE),
    "lvot_vti": _c("80030-0", "LN", "Left ventricular outflow tract VTI", "cm", "lvot", _CORE),
    "rvot_vti": _c("80089-6", "LN", "Right ventricular outflow tract VTI", "cm", "rvot", _CORE),
    "pv_vti": _c("79910-6", "LN", "Pulmonic valve VTI", "cm", "pv", _CORE),
    "mv_vmax": _c("79913-0", "LN", "Mitral valve Vmax", "cm/s", "mv", _CORE),
    "av_vmax": _c("79964-3", "LN", "Aortic valve Vmax", "cm/s", "av", _CORE),
    "lvot_vmax": _c("80029-2", "LN", "Left ventricular outflow tract Vmax", "cm/s", "lvot", _CORE),
    "rvot_vmax": _c("11726-7", "LN", "Peak Systolic Velocity", "cm/s", "rvot", _ORIFICE),
    "pv_vmax": _c("79920-5", "LN", "Pulmonic valve Vmax", "cm/s", "pv", _CORE),
    "av_vmean": _c("79961-9", "LN", "Aortic valve mean blood velocity", "cm/s", "av", _CORE),
    "mv_peak_gradient": _c("80074-8", "LN", "Mitral valve peak instantaneous gradient", "mmHg", "mv", _CORE,
                           "simplified_bernoulli"),
    "av_peak_gradient": _c("79963-5", "LN", "Aortic valve peak instantaneous gradient", "mmHg", "av", _CORE,
                           "simplified_bernoulli"),
    "pv_peak_gradient": _c("79935-3", "LN", "Pulmonic valve peak gradient", "mmHg", "pv", _CORE,
                           "simplified_bernoulli"),
    "mv_mean_gradient": _c("80073-0", "LN", "Mitral valve mean gradient", "mmHg", "mv", _CORE, "simplified_bernoulli"),
    "av_mean_gradient": _c("79962-7", "LN", "Aortic valve mean gradient", "mmHg", "av", _CORE, "simplified_bernoulli"),
    "stroke_volume": _c("90096001", "SCT", "Stroke Volume", "ml", "lvot",
                        "DICOM PS3.16 CID 12207 Echocardiography Mitral Valve Measurement (SV, CO)",
                        "doppler_volume_flow"),
    "cardiac_output": _c("82799009", "SCT", "Cardiac Output", "l/min", "lvot",
                         "DICOM PS3.16 CID 12207 Echocardiography Mitral Valve Measurement (SV, CO)",
                         "doppler_volume_flow"),
    "ava": _c("79958-5", "LN", "Aortic valve area (Continuity VTI)", "cm2", "av", _CORE, "continuity_vti"),
}
"""Every quantity the SR can carry. Sites without a pre-coordinated Core Echo code (RVOT Vmax; Vmean,
peak and mean gradients at MV, LVOT, RVOT, PV) take the generic CID 12222 concept with the finding
site instead, as TID 5203 (Echo Measurement) does."""

_GENERIC = {
    "vmean": Code("20352-1", "LN", "Time averaged mean velocity"),
    "peak_gradient": Code("20247-3", "LN", "Peak Gradient"),
    "mean_gradient": Code("20256-4", "LN", "Mean Gradient"),
}
HEART_RATE = Code("8867-4", "LN", "Heart rate")  # CID 12220 Echocardiography Common Measurement


def concept(key: str) -> Concept:
    """The :class:`Concept` for ``key`` ("lvot_vmean", "pv_mean_gradient", ...), generic CID 12222 ones included."""
    if key in CONCEPTS:
        return CONCEPTS[key]
    site, _, prop = key.partition("_")
    if site in SITES and prop in _GENERIC:
        unit = "cm/s" if prop == "vmean" else "mmHg"
        method = None if prop == "vmean" else METHODS["simplified_bernoulli"]
        return Concept(_GENERIC[prop], UNITS[unit], SITES[site], _ORIFICE, method)
    if key.endswith("_heart_rate") and site in SITES:
        return Concept(HEART_RATE, UNITS["/min"], SITES[site], "DICOM PS3.16 CID 12220 Echocardiography Common "
                       "Measurement")
    raise KeyError(f"no SR concept for {key!r}; known: {', '.join(CONCEPTS)} and <site>_vmean, "
                   "<site>_peak_gradient, <site>_mean_gradient, <site>_heart_rate")


# ----------------------------------------------------------------------- what goes in the report
@dataclass(frozen=True)
class Algorithm:
    """What made the numbers: TID 4019 Algorithm Identification (name, version, parameters = weights hashes)."""

    name: str = "echoseg"
    version: str = ""
    weights: Mapping[str, str] | None = None  # family ("atria" | "doppler") -> sha256 of the weights file


@dataclass(frozen=True)
class Value:
    """One number of one group: the concept key, the value in the concept's unit."""

    key: str
    value: float


@dataclass(frozen=True)
class Group:
    """One TID 1501 group: the values measured in one source image (or derived from several)."""

    label: str                       # the task ("mv_vti") or "study indices"
    family: str                      # "atria" | "doppler" | "study" (selects the weights hash)
    values: tuple[Value, ...]
    sources: tuple[tuple[str, int | None], ...]  # (file, 0-based frame or None)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1-MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def algorithm_for(atria_model: str = "atria", doppler_model: str = "doppler") -> Algorithm:
    """The :class:`Algorithm` of this echoseg with the weights hashes of the two models a run used."""
    from echoseg import __version__
    from echoseg.errors import ModelError
    from echoseg.models.files import locate

    weights = {}
    for family, model in (("atria", atria_model), ("doppler", doppler_model)):
        try:
            weights[family] = sha256_file(locate(model)[1])
        except ModelError:
            weights[family] = "unavailable"
    return Algorithm(version=__version__, weights=weights)


def _finite(x: Any) -> bool:
    try:
        return x is not None and float(x) == float(x) and abs(float(x)) != float("inf")
    except (TypeError, ValueError):
        return False


def _doppler_values(m: Measurement) -> list[Value]:
    site = m.task.removesuffix("_vti")
    values = [Value(m.task, float(m.value))] if m.value is not None else []
    if isinstance(m.details, DopplerDetails):
        s = m.details.summary
        for prop, x in (("vmax", s.vmax_cm_s), ("vmean", s.vmean_cm_s), ("peak_gradient", s.peak_gradient_mmhg),
                        ("mean_gradient", s.mean_gradient_mmhg), ("heart_rate", s.heart_rate_bpm)):
            if x is not None and _finite(x):
                values.append(Value(f"{site}_{prop}", float(x)))
    return values


def _atria_values(m: Measurement) -> list[Value]:
    values = [Value(m.task, float(m.value))] if m.value is not None else []
    if m.task == "la_area" and isinstance(m.details, AtriaDetails) and _finite(m.details.volume_ml):
        values.append(Value("la_volume", float(m.details.volume_ml)))  # type: ignore[arg-type]
    return values


_STUDY_KEYS = {"stroke_volume_ml": ("stroke_volume", ("lvot_vti",)),
               "cardiac_output_l_min": ("cardiac_output", ("lvot_vti",)),
               "ava_cm2": ("ava", ("lvot_vti", "av_vti"))}


def study_groups(results: Sequence[FileResult],
                 studies: Sequence[Mapping[str, object]] | None = None) -> dict[str, list[Group]]:
    """StudyInstanceUID -> the groups of its SR: one per passing measurement, then the study indices.

    Results without a StudyInstanceUID (movies, unreadable files) and rows that failed QC are left out.
    ``studies`` are :func:`echoseg.doppler.study.study_rows`' rows; an index enters only when the
    measurement it was computed from (same study, task and value) is in the report.
    """
    out: dict[str, list[Group]] = {}
    used: dict[tuple[str, str], tuple[str, float]] = {}  # (study, task) -> (file, value)
    for r in results:
        if not r.study_uid:
            continue
        for m in r.measurements:
            if m.qc != "pass" or m.value is None or m.task not in TASKS or not _finite(m.value):
                continue
            atria = m.task in ("la_area", "ra_area")
            values = _atria_values(m) if atria else _doppler_values(m)
            frame = m.frame if atria else None
            out.setdefault(r.study_uid, []).append(
                Group(m.task, "atria" if atria else "doppler", tuple(values), ((r.file, frame),)))
            used.setdefault((r.study_uid, m.task), (r.file, float(m.value)))
    for row in studies or ():
        uid = str(row.get("study_uid") or "")
        if uid not in out:
            continue
        values, sources = [], []
        for col, (key, inputs) in _STUDY_KEYS.items():
            x = row.get(col)
            if not _finite(x) or not all((uid, t) in used and used[(uid, t)][1] == row.get(t) for t in inputs):
                continue
            values.append(Value(key, float(x)))  # type: ignore[arg-type]
            sources += [(used[(uid, t)][0], None) for t in inputs if (used[(uid, t)][0], None) not in sources]
        if values:
            out[uid].append(Group("study indices", "study", tuple(values), tuple(sources)))
    return out


# -------------------------------------------------------------------------------- the document
def _algorithm_id(alg: Algorithm, family: str) -> Any:
    from highdicom.sr import AlgorithmIdentification

    weights = dict(alg.weights or {})
    chosen = [family] if family in weights else sorted(weights)
    params = [f"{f} weights sha256 {weights[f]}" for f in chosen]
    return AlgorithmIdentification(name=f"{alg.name} {family}", version=alg.version or "unknown",
                                   parameters=params or None)


def build_sr(groups: Sequence[Group], headers: Mapping[str, Any], alg: Algorithm, *,
             series_uid: str | None = None, sop_uid: str | None = None) -> Any:
    """A highdicom ComprehensiveSR (a pydicom Dataset) for one study.

    ``headers`` maps each group source's file to its DICOM header (pixel data not needed); the patient
    and study modules are copied from them. Raises ValueError when a source has no header or the
    headers belong to different studies.
    """
    import highdicom as hd
    from highdicom.sr import (DeviceObserverIdentifyingAttributes, FindingSite, MeasurementReport,
                              MeasurementsAndQualitativeEvaluations, ObservationContext, ObserverContext,
                              SourceImageForMeasurement, SourceImageForMeasurementGroup, TrackingIdentifier)
    from highdicom.sr import Measurement as SrMeasurement
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    if not groups:
        raise ValueError("an SR needs at least one passing measurement; this study has none")
    files = list(dict.fromkeys(f for g in groups for f, _ in g.sources))
    missing = [f for f in files if f not in headers]
    if missing:
        raise ValueError(f"no DICOM header for {len(missing)} source file(s), e.g. {Path(missing[0]).name}; "
                         "pass every source's header (read_headers)")
    evidence = [_with_type2(headers[f]) for f in files]
    if len({str(ds.StudyInstanceUID) for ds in evidence}) != 1:
        raise ValueError("the sources span several StudyInstanceUIDs; build one SR per study (study_groups)")

    def source(f: str, frame: int | None) -> tuple[str, str, list[int] | None]:
        ds = headers[f]
        return str(ds.SOPClassUID), str(ds.SOPInstanceUID), [frame + 1] if frame is not None else None

    groups_out = []
    for g in groups:
        alg_id = _algorithm_id(alg, g.family)
        measurements = []
        for v in g.values:
            c = concept(v.key)
            refs = [SourceImageForMeasurement(*source(f, fr)) for f, fr in g.sources]
            measurements.append(SrMeasurement(
                name=c.name, value=v.value, unit=c.unit, method=c.method, algorithm_id=alg_id,
                finding_sites=[FindingSite(c.site)], referenced_images=refs,
                tracking_identifier=TrackingIdentifier(uid=generate_uid())))
        site = concept(g.values[0].key).site if g.family != "study" else None
        groups_out.append(MeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier=f"echoseg {g.label}"),
            algorithm_id=alg_id, finding_sites=[FindingSite(site)] if site is not None else None,
            measurements=measurements,
            source_images=[SourceImageForMeasurementGroup(*source(f, fr)) for f, fr in g.sources]))
    device = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=_device_uid(alg), name=alg.name, manufacturer_name="echoseg project",
            model_name=f"{alg.name} {alg.version or 'unknown'}"))
    report = MeasurementReport(observation_context=ObservationContext(observer_device_context=device),
                               procedure_reported=PROCEDURE, imaging_measurements=groups_out)
    return hd.sr.ComprehensiveSR(
        evidence=evidence, content=report, series_instance_uid=series_uid or generate_uid(), series_number=900,
        sop_instance_uid=sop_uid or generate_uid(), instance_number=1, manufacturer="echoseg project",
        is_complete=True, is_final=False, is_verified=False,
        series_description="echoseg measurements (research use only, not for diagnosis)")


_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")
"""Type 2 attributes of the Patient and General Study modules: present (maybe empty) in every SR."""


_DROPPED = ("InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
            "OperatorsName", "PerformingPhysicianName")
"""Source attributes highdicom would carry into the SR's equipment description: left out (no site or staff names)."""


def _with_type2(ds: Any) -> Any:
    """A copy of a source header with the Patient/Study Type 2 attributes present (empty when the source lacks
    them) and without the institution, station and staff names."""
    import copy

    out = copy.copy(ds)
    for keyword in _DROPPED:
        if keyword in out:
            delattr(out, keyword)
    for keyword in _TYPE2:
        if keyword not in out:
            setattr(out, keyword, "")
    return out


def _device_uid(alg: Algorithm) -> str:
    """A UID that is the same for every report of one echoseg version (the device observer)."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[alg.name, alg.version or "unknown"]))


@contextlib.contextmanager
def _quiet(what: str) -> Iterator[None]:
    """Run a step with pydicom's and highdicom's warnings and log records captured, never shown (they quote
    header values: highdicom's person-name check prints the patient's name); one warning in echoseg's
    words names ``what`` (a file, or "the SR of study N") instead."""
    import logging

    from echoseg.io.dicom import _library_messages

    hd_logger = logging.getLogger("highdicom")
    level = hd_logger.level
    hd_logger.setLevel(logging.CRITICAL)
    try:
        with _library_messages() as caught:
            yield
    finally:
        hd_logger.setLevel(level)
    if caught:
        _log.warning("%s: pydicom/highdicom reported %d problem(s) (values that do not fit their type, say); "
                     "not shown, as they may quote patient data", what, len(caught))


def read_headers(files: Sequence[str]) -> dict[str, Any]:
    """file -> its DICOM header read without pixel data; files that are not readable DICOM are left out.

    pydicom's warnings and log records (which may quote raw header values) are captured by
    :func:`echoseg.io.dicom._library_messages` and never shown.
    """
    import pydicom

    out = {}
    for f in dict.fromkeys(files):
        with _quiet(f):
            try:
                ds = pydicom.dcmread(f, stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - a source that cannot be re-read simply has no SR
                continue
            if "SOPInstanceUID" in ds and "StudyInstanceUID" in ds:
                out[f] = ds
    return out


def _saver(ds: Any) -> Any:
    """A writer for :func:`echoseg.io.atomic.atomic_write` that saves ``ds`` as a DICOM file."""
    def save(tmp: str) -> None:
        ds.save_as(tmp, enforce_file_format=True)
    return save


def sr_name(study_uid: str) -> str:
    """The SR's file name for a study: ``study-<12 hex digits of sha256(StudyInstanceUID)>.dcm``.

    The same study always gets the same name (a rerun, or a node receiving more studies, replaces its
    file), and the name says nothing about the patient or the input paths.

    >>> sr_name("1.2.3")
    'study-c47f5b18b8a4.dcm'
    """
    return f"study-{hashlib.sha256(study_uid.encode()).hexdigest()[:12]}.dcm"


def _report_uids(study_uid: str, groups: Sequence[Group], alg: Algorithm) -> tuple[str, str]:
    """(SeriesInstanceUID, SOPInstanceUID) derived from the study, the algorithm and the values: the same
    report sent twice is the same instance to an archive; a changed one is a new instance."""
    from pydicom.uid import generate_uid

    series = generate_uid(entropy_srcs=["echoseg sr series", study_uid, alg.name, alg.version or ""])
    content = [repr((g.label, g.values, g.sources)) for g in groups]
    sop = generate_uid(entropy_srcs=["echoseg sr", study_uid, alg.name, alg.version or "",
                                     repr(sorted((alg.weights or {}).items())), *content])
    return str(series), str(sop)


def write_sr(results: Sequence[FileResult], out: str | os.PathLike[str], *,
             studies: Sequence[Mapping[str, object]] | None = None, algorithm: Algorithm | None = None,
             prune: bool = True) -> list[Path]:
    """Write ``out/sr/<name>.dcm`` (:func:`sr_name`): one SR per study with at least one passing measurement
    from a DICOM source; returns the paths written, in StudyInstanceUID order.

    With ``prune`` (the default) SR files of earlier runs into ``out`` whose study has no report now are
    deleted, so ``out/sr`` always matches ``out/measurements.csv``.
    """
    from echoseg.io.atomic import atomic_write

    alg = algorithm or algorithm_for()
    by_study = study_groups(results, studies)
    headers = read_headers([f for gs in by_study.values() for g in gs for f, _ in g.sources])
    written = []
    for uid, groups in sorted(by_study.items()):
        groups = [g for g in groups if all(f in headers for f, _ in g.sources)]
        if not groups:
            continue
        series_uid, sop_uid = _report_uids(uid, groups, alg)
        name = sr_name(uid)
        with _quiet(f"sr/{name}"):
            ds = build_sr(groups, headers, alg, series_uid=series_uid, sop_uid=sop_uid)
            written.append(atomic_write(Path(out) / "sr" / name, _saver(ds)))
    if prune:
        prune_sr(out, written)
    return written


def prune_sr(out: str | os.PathLike[str], keep: Sequence[Path]) -> None:
    """Delete the SR files in ``out/sr`` that are not in ``keep`` (those of studies with no report now)."""
    names = {p.name for p in keep}
    if (Path(out) / "sr").is_dir():
        for old in (Path(out) / "sr").glob("study-*.dcm"):
            if old.name not in names:
                old.unlink()
