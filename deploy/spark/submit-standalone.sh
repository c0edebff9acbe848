#!/usr/bin/env bash
# Submit a playlist2vec job to a Spark standalone cluster (client mode: the driver runs here).
#
#   P2V_KAFKA_BOOTSTRAP=k1:9092,k2:9092 P2V_MONGO_URI='mongodb://m1,m2,m3/?replicaSet=rs0' \
#     deploy/spark/submit-standalone.sh spark://spark-master:7077 stream
#   deploy/spark/submit-standalone.sh spark://spark-master:7077 train <train options>
#
# Every worker needs the same Python environment as this machine (playlist2vec installed, same
# Python and pyspark version): use the deploy/Dockerfile image for the workers, or ship a packed
# venv with --archives. The Kafka connector is resolved from Maven Central by --packages.
# SPARK_SUBMIT=echo prints the command instead of running it.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 SPARK_MASTER_URL {stream|train|...} [options]" >&2
  exit 2
fi
master=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
spark_version=$(python3 -c 'import pyspark; print(pyspark.__version__)')

# playlist2vec builds its SparkSession from P2V_SPARK_MASTER, so it must name the same master.
export P2V_SPARK_MASTER=$master
export P2V_STACK=${P2V_STACK:-external}
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-python3}

# the streaming job's driver JVM compiles with C1 only (docs/streaming.md): it plans small batches
driver=()
if [[ $1 == stream ]]; then
  driver=(--conf "spark.driver.extraJavaOptions=${P2V_STREAM_DRIVER_JAVA_OPTIONS:--XX:TieredStopAtLevel=1}")
fi

exec ${SPARK_SUBMIT:-spark-submit} \
  --master "$master" \
  --deploy-mode client \
  --name "playlist2vec-$1" \
  --packages "org.apache.spark:spark-sql-kafka-0-10_2.13:${spark_version}" \
  --conf spark.executor.memory="${P2V_EXECUTOR_MEMORY:-2g}" \
  --conf spark.cores.max="${P2V_CORES_MAX:-4}" \
  --conf spark.sql.shuffle.partitions="${P2V_SHUFFLE_PARTITIONS:-12}" \
  "${driver[@]}" \
  "$here/p2v_job.py" "$@"
