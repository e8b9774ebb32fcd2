"""dropout-risk's command line, training, scoring, tracking and reporting."""

import warnings

# pandera imports pyspark.pandas when pyspark is installed (the `spark` extra, for the
# scale-out path); pyspark then warns about pandas 3 on every run although this project
# never uses pyspark.pandas. The warning is about pyspark's pandas API only.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
