# covkill, run inside a container by `sh -c` (docker exec / kubectl exec).
# $1: cover dir ('' = $COVER_DIR, else /cover)   $2: killswitch port ('' = from $COVKILL_ADDR)
# $3: seconds to wait for the new profile
# Prints DIR and URL lines, then one of: NOCLIENT | REFUSED <msg> | (KILLED | KILLERR <msg>) then NEW <file> | TIMEOUT.
# Only shell builtins in the polling loop (plus sleep), so it runs the same under busybox and alpine.
d=${1:-${COVER_DIR:-/cover}}
a=${COVKILL_ADDR:-:19999}
h=${a%:*}
p=${2:-${a##*:}}
case $h in '' | 0.0.0.0 | '[::]' | '::') h=127.0.0.1 ;; esac
u="http://$h:$p/covkill"
echo "DIR $d"
echo "URL $u"
complete() {
    for f in "$d"/cover-*.out; do
        n=${f##*/cover-}
        n=${n%.out}
        case $n in '' | *[!0-9]*) continue ;; esac
        [ -f "$f" ] && printf '%s ' "${f##*/}"
    done
}
before=" $(complete)"
# No -T: busybox 1.35's wget segfaults on a refused connection with -T; the caller's timeout bounds this.
if command -v wget >/dev/null 2>&1; then
    o=$(wget -q -O /dev/null "$u" 2>&1)
elif command -v curl >/dev/null 2>&1; then
    o=$(curl -sS -o /dev/null "$u" 2>&1)
else
    echo NOCLIENT
    exit 0
fi
r=$?
set -f
o=$(echo $o) # one line
set +f
if [ $r -ne 0 ]; then
    case $o in *[Rr]efused*) echo "REFUSED $o"; exit 0 ;; esac
    echo "KILLERR $o"
else
    echo KILLED
fi
end=$(($(date +%s) + $3))
while :; do
    for f in $(complete); do
        case $before in *" $f "*) ;; *) echo "NEW $f"; exit 0 ;; esac
    done
    [ "$(date +%s)" -lt "$end" ] || { echo TIMEOUT; exit 0; }
    sleep 0.02 2>/dev/null || sleep 1
done
