#!/usr/bin/env bash
# Collects the coverage of every pod a label selector matches, by hand:
#
#   covkill k8s-selector:NS/SELECTOR | covpull --out DIR | covmerge -o DIR/merged.cov
#   covtotal DIR/merged.cov
#
# Each pod's service is stopped through its killswitch (the wrapper in its
# image starts it again), or with --flush takes a live snapshot and keeps
# running. The covtools binaries must be on PATH (`cargo install`).
# Exit 0 ok, 1 a target or the gate failed, 2 an error (bad usage included).
set -euo pipefail

usage="usage: collect-k8s.sh [-n NAMESPACE] [-c CONTAINER] [-o DIR] [--kubectl PROGRAM] [--flush] SELECTOR [-- COVTOTAL-ARGS...]"

namespace=default
container=
out=cover
kubectl=${KUBECTL:-}
flush=()
selector=
while [ $# -gt 0 ]; do
    case $1 in
    -h | --help)
        echo "$usage"
        cat <<'HELP'
  SELECTOR            a label selector (app=orders): every running pod it matches
  -n NAMESPACE        the pods' namespace (default: default)
  -c CONTAINER        the container holding the service, in a pod of several
  -o DIR              where profiles and merged.cov go (default: cover)
  --kubectl PROGRAM   the kubectl to use (default: $KUBECTL, else kubectl on PATH)
  --flush             take a live snapshot instead of stopping (cover build kind)
  -- ARGS             passed to covtotal (e.g. -- --min 70)
HELP
        exit 0
        ;;
    -n) namespace=${2:?$usage}; shift 2 ;;
    -c) container=${2:?$usage}; shift 2 ;;
    -o) out=${2:?$usage}; shift 2 ;;
    --kubectl) kubectl=${2:?$usage}; shift 2 ;;
    --flush) flush=(--flush); shift ;;
    --) shift; break ;;
    -*) echo "collect-k8s.sh: unknown option $1" >&2; echo "$usage" >&2; exit 2 ;;
    *)
        [ -z "$selector" ] || { echo "collect-k8s.sh: a second selector $1" >&2; echo "$usage" >&2; exit 2; }
        selector=$1
        shift
        ;;
    esac
done
[ -n "$selector" ] || { echo "$usage" >&2; exit 2; }

# covkill and covpull run `kubectl` from PATH: another program is put there
# under that name.
if [ -n "$kubectl" ]; then
    program=$(command -v "$kubectl") || { echo "collect-k8s.sh: --kubectl $kubectl: not found" >&2; exit 2; }
    shim=$(mktemp -d)
    trap 'rm -rf "$shim"' EXIT
    ln -s "$program" "$shim/kubectl"
    PATH=$shim:$PATH
fi

target="k8s-selector:$namespace/$selector${container:+:$container}"
mkdir -p "$out"
# The first stage that failed says why (an unreachable target is covkill's
# exit 1, not the error of a merge left with nothing).
set +e
covkill "${flush[@]}" "$target" | covpull --out "$out" | covmerge -o "$out/merged.cov"
codes=("${PIPESTATUS[@]}")
set -e
for code in "${codes[@]}"; do [ "$code" -eq 0 ] || exit "$code"; done
covtotal "$out/merged.cov" "$@"
