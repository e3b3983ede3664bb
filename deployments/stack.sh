#!/usr/bin/env bash
# A production-like stack on this machine, all on 127.0.0.1:
#   SeaweedFS (S3)  :8333    buckets yieldflow-data and mlflow-artifacts
#   Prefect server  :4200    with the cpu and gpu work pools, all deployments, one worker each
#   MLflow server   :5000    SQLite backend, artifacts in s3://mlflow-artifacts
#
#   deployments/stack.sh up       start everything (about 30 s), then: source .stack/env.sh
#   deployments/stack.sh down     stop everything (by PID)
#   deployments/stack.sh status   what is running
#
# Ports and folders can be moved with S3_PORT, PREFECT_PORT, MLFLOW_PORT, YIELDFLOW_STACK_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
state="${YIELDFLOW_STACK_DIR:-$root/.stack}"
bin="${VENV_BIN:-$root/.venv/bin}"
s3_port="${S3_PORT:-8333}"
prefect_port="${PREFECT_PORT:-4200}"
mlflow_port="${MLFLOW_PORT:-5000}"

write_env() {
  cat > "$state/env.sh" <<EOF
# source this file to point yieldflow, prefect and mlflow at the local stack
export PREFECT_API_URL=http://127.0.0.1:$prefect_port/api
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export MLFLOW_TRACKING_URI=http://127.0.0.1:$mlflow_port
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$s3_port
export AWS_ACCESS_KEY_ID=\${AWS_ACCESS_KEY_ID:-local-stack}
export AWS_SECRET_ACCESS_KEY=\${AWS_SECRET_ACCESS_KEY:-local-stack-secret}
export AWS_DEFAULT_REGION=us-east-1
EOF
}

start() {  # start NAME COMMAND...: in its own session, PID in $state/NAME.pid
  local name="$1"; shift
  setsid "$@" > "$state/$name.log" 2>&1 < /dev/null &
  echo $! > "$state/$name.pid"
}

wait_for() {  # wait_for NAME URL
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "$2"; then echo "  $1 is up"; return 0; fi
    sleep 1
  done
  echo "$1 did not come up; see $state/$1.log" >&2
  return 1
}

up() {
  mkdir -p "$state/seaweedfs" "$state/prefect-home"
  write_env
  # shellcheck disable=SC1091
  source "$state/env.sh"
  export PREFECT_HOME="$state/prefect-home" PREFECT_WORKER_QUERY_SECONDS=2
  start seaweedfs "$bin/weed" server -dir="$state/seaweedfs" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.telemetry=false -master.volumeSizeLimitMB=64 -volume.max=0 \
    -s3 -s3.port="$s3_port" -s3.port.iceberg=0 -s3.port.lance=0
  start prefect-server "$bin/prefect" server start --host 127.0.0.1 --port "$prefect_port"
  wait_for seaweedfs "http://127.0.0.1:$s3_port/"
  "$bin/python" - <<'EOF'
import time
import boto3

s3 = boto3.client("s3")
for attempt in range(30):  # the S3 gateway answers before the filer is ready
    try:
        for bucket in ("yieldflow-data", "mlflow-artifacts"):
            try:
                s3.create_bucket(Bucket=bucket)
            except s3.exceptions.BucketAlreadyOwnedByYou:
                pass
        break
    except Exception:
        time.sleep(1)
else:
    raise SystemExit("could not create the buckets")
EOF
  MLFLOW_S3_ENDPOINT_URL="$AWS_ENDPOINT_URL_S3" MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    start mlflow-server "$bin/mlflow" server --backend-store-uri "sqlite:///$state/mlflow.db" \
    --artifacts-destination s3://mlflow-artifacts/ --host 127.0.0.1 --port "$mlflow_port" --workers 1
  wait_for prefect-server "http://127.0.0.1:$prefect_port/api/health"
  wait_for mlflow-server "http://127.0.0.1:$mlflow_port/health"
  (cd "$root" && PREFECT="$bin/prefect" deployments/create_pools.sh > "$state/pools.log")
  (cd "$root" && "$bin/prefect" --no-prompt deploy --all > "$state/deploy.log")
  for pool in cpu gpu; do
    start "worker-$pool" "$bin/prefect" worker start --pool "$pool"
  done
  echo "Stack up. Prefect UI http://127.0.0.1:$prefect_port  MLflow UI http://127.0.0.1:$mlflow_port"
  echo "Now: source $state/env.sh"
}

down() {
  local pid
  for file in "$state"/*.pid; do
    [ -e "$file" ] || continue
    pid="$(cat "$file")"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in 1 2 3; do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null || true  # SeaweedFS takes ~27 s to honour SIGTERM
    rm -f "$file"
    echo "  stopped $(basename "$file" .pid)"
  done
}

status() {
  local pid
  for file in "$state"/*.pid; do
    [ -e "$file" ] || { echo "nothing running"; return; }
    pid="$(cat "$file")"
    if kill -0 "$pid" 2>/dev/null; then state_word=running; else state_word=dead; fi
    echo "$(basename "$file" .pid): $state_word (pid $pid)"
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
