#!/usr/bin/env bash
# Merges and totals a folder of coverage files pulled earlier (by covpull,
# `docker cp`, `kubectl cp`, a CI artifact…):
#
#   (its *.out profiles and its folders of covmeta.*/covcounters.* files) | covmerge -o OUT
#   covtotal OUT
#
# Names starting with `.` are files still being written, and are left out.
# The covtools binaries must be on PATH (`cargo install`).
# Exit 0 ok, 1 the gate failed, 2 an error (no coverage file, bad usage).
set -euo pipefail

usage="usage: collect-dir.sh [-o OUT] DIR [-- COVTOTAL-ARGS...]"

out=
dir=
while [ $# -gt 0 ]; do
    case $1 in
    -h | --help)
        echo "$usage"
        cat <<'HELP'
  DIR       the folder of pulled files (searched with its subfolders)
  -o OUT    the merged profile (default: DIR/merged.cov)
  -- ARGS   passed to covtotal (e.g. -- --min 70 --by package)
HELP
        exit 0
        ;;
    -o) out=${2:?$usage}; shift 2 ;;
    --) shift; break ;;
    -*) echo "collect-dir.sh: unknown option $1" >&2; echo "$usage" >&2; exit 2 ;;
    *)
        [ -z "$dir" ] || { echo "collect-dir.sh: a second folder $1" >&2; echo "$usage" >&2; exit 2; }
        dir=$1
        shift
        ;;
    esac
done
[ -n "$dir" ] || { echo "$usage" >&2; exit 2; }
[ -d "$dir" ] || { echo "collect-dir.sh: $dir: not a folder" >&2; exit 2; }
out=${out:-$dir/merged.cov}

# Text profiles, and each folder holding Go's binary coverage (covmerge
# reads such a folder whole).
inputs=$(
    find "$dir" -type f -name '*.out' ! -name '.*' | sort
    find "$dir" -type f -name 'covmeta.*' -exec dirname {} \; | sort -u
)
if [ -z "$inputs" ]; then
    echo "collect-dir.sh: $dir: no coverage file (*.out, or covmeta.* and covcounters.* files)" >&2
    exit 2
fi
covmerge -o "$out" <<<"$inputs"
covtotal "$out" "$@"
