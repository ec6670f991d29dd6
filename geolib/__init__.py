"""geolib: the engine behind the GeoReasoner / CVG-Text course notebooks.

Each stage of the pipeline lives in its own module; notebooks and the ``geolib`` command
only call into them.
"""

from geolib.errors import DataError, GeolibError

__version__ = "0.1.0"
__all__ = ["DataError", "GeolibError", "__version__"]
