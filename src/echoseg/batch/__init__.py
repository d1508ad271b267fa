"""Archive batches: a run that survives being killed, resumes, and runs on every core or on Ray.

One file is measured by one pure step (:func:`echoseg.batch.work.measure_one`): the file's content
hash, its measurement, its overlay and masks written atomically, and one self-contained JSON record
returned. Engines (:mod:`echoseg.batch.engines`: in-process, worker processes, Ray) only decide
where that step runs; the parent appends each record to the journal (:mod:`echoseg.batch.journal`)
as soon as it arrives, and the outputs are assembled from the journal (:mod:`echoseg.batch.assemble`).

    inputs.plan ──> settings.run_key ──> journal.index (what is done) ──> engine(measure_one) ──>
    journal.append ──> assemble (measurements.csv, beats.csv, studies.csv, results.json,
    report.html, run.json)

:func:`echoseg.batch.run.run_batch` is the call ``echoseg measure`` makes.
"""
