"""Readers of labelled echocardiography datasets, one module per on-disk layout.

Each format module exposes ``index(root, task, opts) -> (refs, skipped)`` (cheap: parses
annotations and checks files, decodes no pixels) and ``load(ref, task, opts) -> LabelledSample``
(decodes one sample). :mod:`echoseg.datasets.dataset` dispatches between them; use its ``open_dataset``.
"""
