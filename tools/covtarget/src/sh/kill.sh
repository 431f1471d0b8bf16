# covkill, run inside a container by `sh -c` (docker exec / kubectl exec), after ask.sh.
# $1: cover dir ('' = $COVER_DIR, else /cover)   $2: killswitch port ('' = from $COVKILL_ADDR)
# $3: seconds to wait for the new profile   $4: the path asked (/covkill, /covtools/flush,
# /covtools/reset).
# Prints DIR and URL lines, ask's ANS lines, then one of: NOCLIENT | REFUSED <msg> |
# NOANSWER | NOTHARNESS <code> | REJECTED <code> | DONE <code> (flush and reset: the harness
# answered 2xx, which it does once the snapshot is complete) |
# (KILLED | KILLERR <msg>) then (NEW <file> | TIMEOUT).
# Ten of these poll at once on a small machine, so the loop forks only `sleep`: no $(…), no date.
d=${1:-${COVER_DIR:-/cover}}
a=${COVKILL_ADDR:-:19999}
h=${a%:*}
p=${2:-${a##*:}}
secs=$3
case $h in '' | 0.0.0.0 | '[::]' | '::') h=127.0.0.1 ;; esac
echo "DIR $d"
echo "URL http://$h:$p$4"
complete() { # sets $list to " name name … " of the complete profiles and counter files
    list=' '
    for f in "$d"/cover-*.out "$d"/covcounters.*; do
        n=${f##*/}
        case $n in
        cover-*.out)
            m=${n#cover-}
            m=${m%.out}
            case $m in '' | *[!0-9]*) continue ;; esac
            ;;
        covcounters.*.*.*) ;;
        *) continue ;;
        esac
        [ -f "$f" ] && list="$list$n "
    done
}
complete
before=$list
ask "$4"
case $asked in
NOCLIENT | NOANSWER | REFUSED*) echo "$asked"; exit 0 ;;
OTHER*) echo "NOTHARNESS ${asked#OTHER }"; exit 0 ;;
HARNESS\ 2*) [ "$4" = /covkill ] || { echo "DONE ${asked#HARNESS }"; exit 0; }; echo KILLED ;;
HARNESS*) echo "REJECTED ${asked#HARNESS }"; exit 0 ;;
FAILED*)
    # No HTTP answer, but a connection: the harness may have stopped as it answered.
    [ "$4" = /covkill ] || { echo "KILLERR ${asked#FAILED }"; exit 0; }
    echo "KILLERR ${asked#FAILED }"
    ;;
esac
i=$(($3 * 50))
while [ $i -gt 0 ]; do
    complete
    for f in $list; do
        case $before in *" $f "*) ;; *) echo "NEW $f"; exit 0 ;; esac
    done
    if sleep 0.02 2>/dev/null; then i=$((i - 1)); else sleep 1; i=$((i - 50)); fi
done
echo TIMEOUT
