"""spark-submit entry point: runs one `playlist2vec` subcommand (`stream`, `train`, ...) on Spark.

spark-submit only launches Python files, not console scripts, so this file stands in for the
`playlist2vec` command: `spark-submit [options] p2v_job.py stream`. The SparkSession the
command builds picks up the master, packages and conf that spark-submit was given.
"""

from __future__ import annotations

import sys

from playlist2vec.cli import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
