#!/usr/bin/env bash
# Submit the playlist2vec streaming job to Kubernetes (cluster mode: driver and executors are pods).
#
#   docker build -f deploy/spark/Dockerfile.k8s -t registry.example/playlist2vec-spark:0.1.0 .
#   kubectl -n playlist2vec create secret generic p2v-mongo \
#     --from-literal=uri='mongodb://m1,m2,m3/?replicaSet=rs0'
#   kubectl -n playlist2vec create serviceaccount spark   # plus a Role to create pods
#   P2V_IMAGE=registry.example/playlist2vec-spark:0.1.0 P2V_KAFKA_BOOTSTRAP=kafka:9092 \
#     deploy/spark/submit-k8s.sh https://<api-server>:6443 stream
#
# The checkpoint (Kafka offsets) lives on the PersistentVolumeClaim p2v-stream-state so a
# restarted driver resumes where it stopped. The driver pod carries Prometheus scrape
# annotations for its metrics port. SPARK_SUBMIT=echo prints the command instead of running it.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 K8S_API_URL {stream|train|...} [options]" >&2
  exit 2
fi
api=$1
shift
: "${P2V_IMAGE:?set P2V_IMAGE to the image built from deploy/spark/Dockerfile.k8s}"
: "${P2V_KAFKA_BOOTSTRAP:?set P2V_KAFKA_BOOTSTRAP}"
namespace=${P2V_NAMESPACE:-playlist2vec}
spark_version=$(python3 -c 'import pyspark; print(pyspark.__version__)')
home=/var/lib/playlist2vec
metrics_port=9108

env_conf=()
for prefix in spark.kubernetes.driverEnv spark.executorEnv; do
  env_conf+=(--conf "$prefix.P2V_STACK=external"
             --conf "$prefix.P2V_HOME=$home"
             --conf "$prefix.P2V_KAFKA_BOOTSTRAP=$P2V_KAFKA_BOOTSTRAP"
             --conf "$prefix.P2V_MONGO_DB=${P2V_MONGO_DB:-playlist2vec}")
done

exec ${SPARK_SUBMIT:-spark-submit} \
  --master "k8s://$api" \
  --deploy-mode cluster \
  --name "playlist2vec-$1" \
  --packages "org.apache.spark:spark-sql-kafka-0-10_2.13:${spark_version}" \
  --conf spark.jars.ivy=/tmp/.ivy2 \
  --conf spark.kubernetes.namespace="$namespace" \
  --conf spark.kubernetes.container.image="$P2V_IMAGE" \
  --conf spark.kubernetes.authenticate.driver.serviceAccountName=spark \
  --conf spark.executor.instances="${P2V_EXECUTORS:-2}" \
  --conf spark.executor.cores="${P2V_EXECUTOR_CORES:-2}" \
  --conf spark.executor.memory="${P2V_EXECUTOR_MEMORY:-2g}" \
  --conf spark.sql.shuffle.partitions="${P2V_SHUFFLE_PARTITIONS:-12}" \
  --conf spark.driver.extraJavaOptions="${P2V_STREAM_DRIVER_JAVA_OPTIONS:--XX:TieredStopAtLevel=1}" \
  --conf spark.kubernetes.driverEnv.P2V_SPARK_MASTER="k8s://$api" \
  --conf spark.kubernetes.driverEnv.P2V_STREAM_METRICS_ADDR="0.0.0.0:$metrics_port" \
  --conf spark.kubernetes.driver.secretKeyRef.P2V_MONGO_URI=p2v-mongo:uri \
  --conf spark.kubernetes.executor.secretKeyRef.P2V_MONGO_URI=p2v-mongo:uri \
  --conf spark.kubernetes.driver.volumes.persistentVolumeClaim.state.mount.path="$home" \
  --conf spark.kubernetes.driver.volumes.persistentVolumeClaim.state.options.claimName=p2v-stream-state \
  --conf spark.kubernetes.driver.annotation.prometheus.io/scrape=true \
  --conf spark.kubernetes.driver.annotation.prometheus.io/port="$metrics_port" \
  "${env_conf[@]}" \
  local:///opt/playlist2vec/jobs/p2v_job.py "$@"
