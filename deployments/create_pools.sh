#!/usr/bin/env bash
# Create (or update) the two work pools prefect.yaml deploys to:
#   cpu  process pool for the seasonal pipeline and data checks
#   gpu  the training flow; a process pool on a GPU machine, or Kubernetes in production
# and the automation that marks a flow run Crashed when its heartbeats stop (a worker lost
# with its machine would otherwise leave the run Running forever): zombie_runs.py; and the
# three automations that send messages (run failed, champion moved, forecast check failed)
# to a notification block: alerts.py, which says so when no block is configured.
# Usage: deployments/create_pools.sh            (local: both are process pools)
#        GPU_POOL_TYPE=kubernetes deployments/create_pools.sh
#        YIELDFLOW_ALERTS_WEBHOOK_URL=https://... deployments/create_pools.sh  (or
#        YIELDFLOW_ALERTS_BLOCK=slack-webhook/NAME: see deployments/alerts.py)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefect="${PREFECT:-prefect}"
python="${PYTHON:-$(dirname "$(command -v "$prefect")")/python}"  # the one prefect runs on
gpu_pool_type="${GPU_POOL_TYPE:-process}"

"$prefect" work-pool create cpu --type process --overwrite
case "$gpu_pool_type" in
  process) template="$here/process-gpu-pool.json" ;;
  kubernetes) template="$here/kubernetes-gpu-pool.json" ;;
  *) echo "GPU_POOL_TYPE must be process or kubernetes, not '$gpu_pool_type'" >&2; exit 2 ;;
esac
"$prefect" work-pool create gpu --type "$gpu_pool_type" --base-job-template "$template" --overwrite
"$python" "$here/zombie_runs.py"
"$python" "$here/alerts.py"
