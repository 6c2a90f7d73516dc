"""The Spark job streambt submits: run a manifest on the cluster, write the run folder.

``streambt submit MANIFEST --engine spark --master spark://HOST:PORT --out DIR``
runs this file with spark-submit (client mode), with the streambt package
shipped as a zip in ``--py-files``; by hand::

    spark-submit --master spark://HOST:PORT --properties-file backends/spark/spark-defaults.conf \\
        --py-files streambt.zip backends/spark/job.py MANIFEST.toml OUT_DIR
"""

import sys

from streambt.backends.spark.submit import job_main

if __name__ == "__main__":
    sys.exit(job_main(sys.argv[1:]))
