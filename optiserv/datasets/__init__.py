"""Readers for published benchmark instances (OR-Library p-median, capacitated warehouse location).

Import the reader you need from its module, e.g. ``optiserv.datasets.orlib_pmed``.
"""
