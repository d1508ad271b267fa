"""echoseg.web: the web demo (``echoseg app``).

:mod:`~echoseg.web.app` holds the routes, :mod:`~echoseg.web.sessions` the sessions and the one
measurement of each file, :mod:`~echoseg.web.uploads` the streamed uploads and zips,
:mod:`~echoseg.web.limits` what one request may cost, :mod:`~echoseg.web.guard` the Host, Origin and
body-size checks, :mod:`~echoseg.web.edits` the frame and beat edits and :mod:`~echoseg.web.views`
the JSON and downloads.
"""
