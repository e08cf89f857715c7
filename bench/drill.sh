#!/usr/bin/env bash
# The kill drill: builds a release binary and runs `obol drill` on a fresh
# database. Usage: bench/drill.sh sqlite|postgres [clients] [checkouts] [kills]
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
clients="${2:-8}"
checkouts="${3:-1000}"
kills="${4:-20}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p obol
case "$backend" in
    sqlite) url="sqlite://$work/obol.db" ;;
    postgres)
        pg="${OBOL_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
        psql "$pg" -qc "DROP DATABASE IF EXISTS obol_drill WITH (FORCE)" -qc "CREATE DATABASE obol_drill" 2>/dev/null
        url="${pg%/*}/obol_drill"
        ;;
    *) echo "usage: $0 sqlite|postgres [clients] [checkouts] [kills]"; exit 2 ;;
esac
echo "backend:             $backend"
./target/release/obol --database-url "$url" drill --clients "$clients" --checkouts "$checkouts" --kills "$kills"
