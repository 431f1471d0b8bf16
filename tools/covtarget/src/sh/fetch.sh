# covpull, run inside a container by `sh -c` (docker exec / kubectl exec): every complete
# profile in one round-trip. $1: cover dir ('' = $COVER_DIR, else /cover)   $2: a random boundary B.
# Output records, each starting on a new line with "B ": DIR <dir> | NODIR | SKIP <name> |
# FILE <name> (then the file's bytes and one newline) | CATFAIL <name> | END.
d=${1:-${COVER_DIR:-/cover}}
b=$2
printf '%s DIR %s\n' "$b" "$d"
if [ ! -d "$d" ]; then
    printf '%s NODIR\n%s END\n' "$b" "$b"
    exit 0
fi
for f in "$d"/* "$d"/.*; do
    n=${f##*/}
    case $n in . | ..) continue ;; esac
    [ -e "$f" ] || continue
    m=${n#cover-}
    m=${m%.out}
    case $n in
    cover-*.out) case $m in '' | *[!0-9]*) printf '%s SKIP %s\n' "$b" "$n"; continue ;; esac ;;
    *) printf '%s SKIP %s\n' "$b" "$n"; continue ;;
    esac
    printf '%s FILE %s\n' "$b" "$n"
    cat "$f" 2>/dev/null || printf '\n%s CATFAIL %s' "$b" "$n"
    printf '\n'
done
printf '%s END\n' "$b"
