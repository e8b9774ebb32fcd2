"""Where models registered before ``pipeline.registry`` existed find their class.

A registered model carries its own copy of the models-from-code entry point
(``pipeline/registry/pyfunc_model.py`` today); the copies written by earlier versions
import ``RiskListModel`` from here. Keep this name while such models may be loaded.
"""

from pipeline.registry.serving import RiskListModel

__all__ = ["RiskListModel"]
