# covkill, run inside a container by `sh -c` (docker exec / kubectl exec).
# $1: cover dir ('' = $COVER_DIR, else /cover)   $2: killswitch port ('' = from $COVKILL_ADDR)
# $3: seconds to wait for the new profile
# Prints DIR and URL lines, then one of: NOCLIENT | REFUSED <msg> | NOANSWER |
# (KILLED | KILLERR <msg>) then (NEW <file> | TIMEOUT).
# Ten of these poll at once on a small machine, so the loop forks only `sleep`: no $(…), no date.
d=${1:-${COVER_DIR:-/cover}}
a=${COVKILL_ADDR:-:19999}
h=${a%:*}
p=${2:-${a##*:}}
case $h in '' | 0.0.0.0 | '[::]' | '::') h=127.0.0.1 ;; esac
u="http://$h:$p/covkill"
echo "DIR $d"
echo "URL $u"
complete() { # sets $list to " name name … " of the complete profiles
    list=' '
    for f in "$d"/cover-*.out; do
        n=${f##*/cover-}
        n=${n%.out}
        case $n in '' | *[!0-9]*) continue ;; esac
        [ -f "$f" ] && list="$list${f##*/} "
    done
}
complete
before=$list
if command -v wget >/dev/null 2>&1; then
    c="wget -q -O /dev/null"
elif command -v curl >/dev/null 2>&1; then
    c="curl -sS -o /dev/null"
else
    echo NOCLIENT
    exit 0
fi
# A killswitch that accepts but never answers must not leave the client
# behind: bound it with timeout(1) where there is one. (Not wget -T: busybox
# 1.35's wget segfaults with -T on a refused connection.)
t=
command -v timeout >/dev/null 2>&1 && t="timeout $3"
o=$($t $c "$u" 2>&1)
r=$?
if [ $r -ne 0 ]; then
    case $r in 124 | 143) [ -n "$t" ] && { echo NOANSWER; exit 0; } ;; esac
    set -f
    o=$(echo $o) # on one line
    set +f
    case $o in *[Rr]efused*) echo "REFUSED $o"; exit 0 ;; esac
    # GNU wget -q says nothing and exits 4 on a network failure; curl exits
    # 7 when it could not connect.
    case $c:$r in wget*:4 | curl*:7) echo "REFUSED ${o:-connection failed (exit $r)}"; exit 0 ;; esac
    echo "KILLERR ${o:-exit $r}"
else
    echo KILLED
fi
i=$(($3 * 50))
while [ $i -gt 0 ]; do
    complete
    for f in $list; do
        case $before in *" $f "*) ;; *) echo "NEW $f"; exit 0 ;; esac
    done
    if sleep 0.02 2>/dev/null; then i=$((i - 1)); else sleep 1; i=$((i - 50)); fi
done
echo TIMEOUT
