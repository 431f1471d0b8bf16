# Shared by kill.sh and fetch.sh (prepended to each): `ask PATH` sends GET PATH to the
# harness's killswitch from inside the container. Needs $h, $p (host and port) and $3-style
# $secs (bound on the request). Prints "ANS <line>" for what answered (status line, headers,
# body; at most 40 lines; each after $pre) and sets $asked to one of:
#   NOCLIENT | REFUSED <msg> | NOANSWER | FAILED <msg> (no HTTP answer) |
#   HARNESS <code> | OTHER <code> (an HTTP answer without the harness's mark).
# The harness's mark: its Covtools-Harness header, or (compatibility with harnesses older
# than that header) an answer body starting "covtools: stopping".
ask() {
    u="http://$h:$p$1"
    t=
    command -v timeout >/dev/null 2>&1 && t="timeout $secs"
    # A killswitch that accepts but never answers must not leave the client
    # behind: bound it with timeout(1) where there is one. (Not wget -T: busybox
    # 1.35's wget segfaults with -T on a refused connection.)
    if command -v curl >/dev/null 2>&1; then
        c=curl
        o=$($t curl -sS -i "$u" 2>&1)
    elif command -v wget >/dev/null 2>&1; then
        c=wget
        o=$($t wget -q -S -O - "$u" 2>&1)
    else
        asked=NOCLIENT
        return
    fi
    r=$?
    case $o in
    *HTTP/[0-9]*) ;;
    *)
        if [ $r -ne 0 ]; then
            case $r in 124 | 143) [ -n "$t" ] && { asked=NOANSWER; return; } ;; esac
            set -f
            o=$(echo $o) # on one line
            set +f
            case $o in *[Rr]efused*) asked="REFUSED $o"; return ;; esac
            # GNU wget -q says nothing and exits 4 on a network failure; curl exits
            # 7 when it could not connect.
            case $c:$r in wget:4 | curl:7) asked="REFUSED ${o:-connection failed (exit $r)}"; return ;; esac
            asked="FAILED ${o:-exit $r}"
            return
        fi
        ;;
    esac
    # wget shows neither the headers nor the body of an error answer: ask
    # again with nc, when there is one, to see who answered and what it said.
    if [ $r -ne 0 ] && [ $c = wget ] && command -v nc >/dev/null 2>&1; then
        o2=$(printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$1" "$h" "$p" | $t nc "$h" "$p" 2>/dev/null)
        case $o2 in HTTP/[0-9]*) o=$o2 ;; esac
    fi
    code=${o#*HTTP/[0-9]*[ ]}
    code=${code%%[!0-9]*}
    case $o in
    *[Cc][Oo][Vv][Tt][Oo][Oo][Ll][Ss]-[Hh][Aa][Rr][Nn][Ee][Ss][Ss]:* | *"covtools: stopping"*) asked="HARNESS $code" ;;
    *) asked="OTHER $code" ;;
    esac
    n=0
    while IFS= read -r l && [ $n -lt 40 ]; do
        echo "${pre}ANS $l"
        n=$((n + 1))
    done <<ANSWER
$o
ANSWER
}
