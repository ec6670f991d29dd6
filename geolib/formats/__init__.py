"""Readers, writers and validation for the dataset formats the course uses.

One reader per format serves both ClueWorld exports and the real datasets:
OSV-5M-style CSV metadata (:mod:`.osv5m`), GeoReasoner / Qwen-VL SFT conversations (:mod:`.sft`)
and the CVG-Text layout (:mod:`.cvgtext`).
"""

from geolib.formats.validate import check_latitude, check_longitude

__all__ = ["check_latitude", "check_longitude"]
