# covpull, run inside a container by `sh -c` (docker exec / kubectl exec), after ask.sh: every
# complete profile and binary coverage file in one round-trip, after asking the harness for a
# snapshot when $4 says so. $1: cover dir ('' = $COVER_DIR, else /cover)   $2: a random
# boundary B   $3: killswitch port ('' = from $COVKILL_ADDR)   $4: path to ask first ('' = none)
# $5: seconds the ask may take.
# Output records, each starting on a new line with "B ": DIR <dir> | ANS <line> |
# ASKED <ask's result> | NODIR | SKIP <name> | FILE <name> (then the file's bytes and one
# newline) | CATFAIL <name> | END.
d=${1:-${COVER_DIR:-/cover}}
b=$2
printf '%s DIR %s\n' "$b" "$d"
if [ -n "$4" ]; then
    a=${COVKILL_ADDR:-:19999}
    h=${a%:*}
    p=${3:-${a##*:}}
    secs=$5
    case $h in '' | 0.0.0.0 | '[::]' | '::') h=127.0.0.1 ;; esac
    pre="$b "
    ask "$4"
    printf '%s ASKED %s\n' "$b" "$asked"
    case $asked in HARNESS\ 2*) ;; *) printf '%s END\n' "$b"; exit 0 ;; esac
fi
if [ ! -d "$d" ]; then
    printf '%s NODIR\n%s END\n' "$b" "$b"
    exit 0
fi
for f in "$d"/* "$d"/.*; do
    n=${f##*/}
    case $n in . | ..) continue ;; esac
    [ -e "$f" ] || continue
    case $n in
    cover-*.out)
        m=${n#cover-}
        m=${m%.out}
        case $m in '' | *[!0-9]*) printf '%s SKIP %s\n' "$b" "$n"; continue ;; esac
        ;;
    covmeta.*)
        m=${n#covmeta.}
        case $m in '' | *[!0-9a-f]*) printf '%s SKIP %s\n' "$b" "$n"; continue ;; esac
        ;;
    covcounters.*.*.*)
        m=${n#covcounters.}
        case $m in *[!0-9a-f.]* | *..* | *.) printf '%s SKIP %s\n' "$b" "$n"; continue ;; esac
        ;;
    *) printf '%s SKIP %s\n' "$b" "$n"; continue ;;
    esac
    printf '%s FILE %s\n' "$b" "$n"
    cat "$f" 2>/dev/null || printf '\n%s CATFAIL %s' "$b" "$n"
    printf '\n'
done
printf '%s END\n' "$b"
