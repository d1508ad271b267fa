"""echoseg.web: the web demo (``echoseg app``).

:mod:`~echoseg.web.app` holds the routes, :mod:`~echoseg.web.sessions` the sessions, uploads and the
one measurement of each file, :mod:`~echoseg.web.edits` the frame and beat edits and
:mod:`~echoseg.web.views` the JSON and downloads.
"""
