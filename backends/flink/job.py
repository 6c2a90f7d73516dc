"""The Flink job a cluster runs for a streambt manifest.

    flink run -m HOST:8081 -py backends/flink/job.py -- --manifest M.toml --out /data/runs/x

(``streambt submit M.toml --engine flink --jobmanager HOST:8081`` does the
same.) The task managers' Python must have streambt installed (the job image
of docker-compose.yml does); ``--out`` must be a folder they share with the
client. The logic lives in ``streambt.backends.flink.submit``.
"""

import sys

from streambt.backends.flink.submit import main

if __name__ == "__main__":
    sys.exit(main())
