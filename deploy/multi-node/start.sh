#!/usr/bin/env bash
# Several `flotilla serve` processes behind HAProxy on one host, on one PostgreSQL database, an S3-compatible object
# store and an external MQTT broker (README.md, "Several processes behind a load balancer"). Every process gets the
# same configuration; only its port differs. Ctrl-C stops them all.
#
#   FLOTILLA_DATABASE_URL=postgres://flotilla@db/flotilla \
#   FLOTILLA_S3_URL=http://s3.example:7480/artifacts AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
#   FLOTILLA_MQTT_URL=mqtt://127.0.0.1:1883 \
#   deploy/multi-node/start.sh 3 0.0.0.0:8080
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
nodes="${1:-3}"
bind="${2:-127.0.0.1:8080}"
first_port="${FLOTILLA_FIRST_PORT:-8081}"
# The processes answer only through HAProxy on this host.
export FLOTILLA_HOST="${FLOTILLA_HOST:-127.0.0.1}"
: "${FLOTILLA_DATABASE_URL:?set FLOTILLA_DATABASE_URL to the shared PostgreSQL database}"
[ -n "${FLOTILLA_S3_URL:-}" ] || echo "start.sh: no FLOTILLA_S3_URL: each process keeps blobs in its own folder, which only works if they share it" >&2
if [ -z "${FLOTILLA_MQTT_URL:-}" ]; then
  echo "start.sh: no FLOTILLA_MQTT_URL: Kanto is off (an embedded broker per process cannot be shared)" >&2
  export FLOTILLA_MQTT_PORT=off
fi

run="$(mktemp -d "${TMPDIR:-/tmp}/flotilla-multi-node.XXXXXX")"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait
}
trap stop EXIT INT TERM

# Migrations once, before any process serves (each process would also run them at start, one after the other).
node "$repo/bin/flotilla.js" migrate --data "$run/data"

cp "$here/haproxy.cfg" "$run/haproxy.cfg"
for i in $(seq 1 "$nodes"); do
  port=$((first_port + i - 1))
  mkdir -p "$run/node$i"
  node "$repo/bin/flotilla.js" serve --port "$port" --data "$run/node$i" >"$run/node$i.log" 2>&1 &
  pids+=($!)
  echo "    server node$i 127.0.0.1:$port" >>"$run/haproxy.cfg"
  echo "start.sh: node$i on 127.0.0.1:$port (log $run/node$i.log)"
done
FLOTILLA_LB_BIND="$bind" haproxy -W -db -f "$run/haproxy.cfg" &
pids+=($!)
echo "start.sh: HAProxy on $bind; Ctrl-C stops everything"
wait -n
