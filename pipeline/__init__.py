"""dropout-risk's command line, training, scoring, tracking and reporting."""

import warnings

# Libraries that look for pyspark (the `spark` extra, for the scale-out path) may import
# pyspark.pandas, which then warns about pandas 3 although this project never uses
# pyspark's pandas API; the warning is about that API only.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
