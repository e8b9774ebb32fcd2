"""The MLflow tracking store and model registry, the registered pyfunc model and serving."""
