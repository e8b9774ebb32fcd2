"""MLflow models-from-code entry point of the registered model (see pipeline.registry.serving).

MLflow copies this file into the model and runs it on load; it only names the installed
class, so no pickled object is ever loaded.
"""

import mlflow

from pipeline.registry.serving import RiskListModel

mlflow.models.set_model(RiskListModel())
