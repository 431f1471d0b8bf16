#!/usr/bin/env bash
# Collects the coverage of the services of a Docker Compose project, by hand:
# its containers are those labelled com.docker.compose.project=PROJECT, and
#
#   covkill docker:C1 docker:C2 … | covpull --out DIR | covmerge -o DIR/merged.cov
#   covtotal DIR/merged.cov
#
# Each service is stopped through its killswitch (the wrapper in its image
# starts it again), or with --flush takes a live snapshot and keeps running.
# Works with `docker-compose` and `docker compose` alike (both set the
# label). The covtools binaries must be on PATH (`cargo install`).
# Exit 0 ok, 1 a target or the gate failed (or no container), 2 an error.
set -euo pipefail

usage="usage: collect-compose.sh [-p PROJECT] [-s SERVICE]... [-o DIR] [--flush] [-- COVTOTAL-ARGS...]"

# Compose's own default project name: the folder's name, lower case.
project=${COMPOSE_PROJECT_NAME:-$(basename "$PWD" | tr '[:upper:]' '[:lower:]')}
services=()
out=cover
flush=()
while [ $# -gt 0 ]; do
    case $1 in
    -h | --help)
        echo "$usage"
        cat <<'HELP'
  -p PROJECT    the compose project (default: $COMPOSE_PROJECT_NAME, else this folder's name)
  -s SERVICE    only this service's containers (repeatable; default: every
                running container of the project, so name the instrumented
                ones when the project also runs a database)
  -o DIR        where profiles and merged.cov go (default: cover)
  --flush       take a live snapshot instead of stopping (cover build kind)
  -- ARGS       passed to covtotal (e.g. -- --min 70)
HELP
        exit 0
        ;;
    -p) project=${2:?$usage}; shift 2 ;;
    -s) services+=("${2:?$usage}"); shift 2 ;;
    -o) out=${2:?$usage}; shift 2 ;;
    --flush) flush=(--flush); shift ;;
    --) shift; break ;;
    *) echo "collect-compose.sh: unexpected $1" >&2; echo "$usage" >&2; exit 2 ;;
    esac
done

filters=()
if [ ${#services[@]} -eq 0 ]; then
    filters=("")
else
    for s in "${services[@]}"; do filters+=("com.docker.compose.service=$s"); done
fi
targets=()
for f in "${filters[@]}"; do
    args=(ps --filter "label=com.docker.compose.project=$project" --format 'docker:{{.Names}}')
    [ -z "$f" ] || args+=(--filter "label=$f")
    found=$(docker "${args[@]}") || { echo "collect-compose.sh: docker ps failed" >&2; exit 2; }
    while IFS= read -r t; do [ -z "$t" ] || targets+=("$t"); done <<<"$found"
done
if [ ${#targets[@]} -eq 0 ]; then
    echo "collect-compose.sh: no running container of compose project $project${services[*]:+ (services ${services[*]})}" >&2
    exit 1
fi

mkdir -p "$out"
# The first stage that failed says why (an unreachable target is covkill's
# exit 1, not the error of a merge left with nothing).
set +e
covkill "${flush[@]}" "${targets[@]}" | covpull --out "$out" | covmerge -o "$out/merged.cov"
codes=("${PIPESTATUS[@]}")
set -e
for code in "${codes[@]}"; do [ "$code" -eq 0 ] || exit "$code"; done
covtotal "$out/merged.cov" "$@"
