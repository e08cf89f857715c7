#!/usr/bin/env bash
# Builds a release binary, starts `obol serve` on the test clock on a fresh
# database, and runs `obol bench-renewals` against it.
# Usage: bench/renewals.sh sqlite|postgres [subscriptions] [clients]
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
subscriptions="${2:-1000}"
clients="${3:-8}"
port=18092
work="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; }; rm -rf "$work"' EXIT

cargo build --release -q -p obol
case "$backend" in
    sqlite) url="sqlite://$work/obol.db" ;;
    postgres)
        pg="${OBOL_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
        psql "$pg" -qc "DROP DATABASE IF EXISTS obol_bench WITH (FORCE)" -qc "CREATE DATABASE obol_bench"
        url="${pg%/*}/obol_bench"
        export OBOL_MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
        ;;
    *) echo "usage: $0 sqlite|postgres [subscriptions] [clients]"; exit 2 ;;
esac
DATABASE_URL="$url" OBOL_LISTEN="127.0.0.1:$port" OBOL_LOG=warn OBOL_ADMIN_KEY=bench-admin \
    OBOL_TEST_CLOCK=1 ./target/release/obol serve > "$work/out.txt" &
server=$!
for _ in $(seq 1 100); do grep -q "listening" "$work/out.txt" 2>/dev/null && break; sleep 0.1; done
key="$(awk '/demo secret key:/ {print $NF}' "$work/out.txt")"
echo "backend:        $backend"
./target/release/obol bench-renewals --url "http://127.0.0.1:$port" --key "$key" --admin-key bench-admin \
    --subscriptions "$subscriptions" --clients "$clients"
