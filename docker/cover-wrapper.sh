#!/bin/sh
# cover-wrapper: runs a coverage-instrumented Go test binary (built by
# `covtools build`) as a long-lived service and keeps one
# coverage profile per run. It is the entrypoint of the images built by
# `covtools images`, and also runs as a plain local process.
# POSIX sh: runs under busybox ash, alpine and dash.
#
# CONTRACT (shared with covkill and covpull; keep it stable)
#   COVER_DIR      the cover directory (default /cover). Complete profiles are
#                  exactly the files named cover-<n>.out in it, n decimal,
#                  counting from 1, one per run of the service. Each is hard-
#                  linked (or renamed) into place only after the test binary
#                  has exited, so it is never seen half-written, and numbers
#                  are never reused, so a later run never overwrites an earlier
#                  profile (also across container restarts: the next number is
#                  one more than the largest present). Anything else in
#                  COVER_DIR (names starting with ".": the profile being
#                  written, temp dirs) is incomplete and must be ignored.
#   COVKILL_ADDR   the harness's killswitch address (default :19999). An HTTP
#                  GET /covkill answers 200, then the service stops, its
#                  profile becomes the next cover-<n>.out and the wrapper starts
#                  the service again (unless COVER_RESTART=never).
#   SIGTERM/SIGINT sent to the wrapper are forwarded to the service as SIGTERM;
#                  the wrapper waits for it, keeps its profile as the next
#                  cover-<n>.out and exits. A second signal forwards SIGKILL.
#   Images contain busybox (sh, wget, ls, cat), so from the host:
#                    docker exec C wget -q -O- http://127.0.0.1:19999/covkill
#                    docker exec C ls /cover
#                    docker exec C cat /cover/cover-1.out
#   Local process: the same semantics with COVER_DIR a host directory and
#                  COVKILL_ADDR a loopback address, e.g.
#                    COVER_BIN=target/covtools/bin/orders.test COVER_DIR=/tmp/c \
#                    COVKILL_ADDR=127.0.0.1:29001 sh docker/cover-wrapper.sh \
#                      -addr 127.0.0.1:8081
#
# Usage: cover-wrapper [SERVICE ARGS...]
#   The arguments go to the service (after "--", which the harness hands to
#   main() as os.Args).
# Settings (environment):
#   COVER_BIN          the test binary to run (required; set by the images)
#   COVER_TEST         run this hand-written harness test (e.g. TestRun)
#                      instead of the injected TestCovtoolsHarness; the
#                      arguments are then test-binary flags (classic method)
#   COVER_KIND         test (default) or cover: COVER_BIN is the real main built
#                      with `go build -cover`; it runs without -test.* flags,
#                      with GOCOVERDIR=$COVER_DIR, and Go writes its own
#                      covmeta.* / covcounters.* files there (nothing to move);
#                      counter files of processes that ended before the
#                      wrapper started (an earlier container on the same
#                      directory) get a process number of their own, since
#                      process ids repeat from container to container
#   COVER_RESTART      always (default) or never: start again after a run?
#   COVER_MIN_UPTIME   a run shorter than this many seconds is a quick exit
#                      (default 2), unless it exited 0 with a profile (a
#                      killswitch stop); quick exits in a row back off 1, 2, 4 ... s
#   COVER_BACKOFF_MAX  the longest backoff, seconds (default 30)

prog=cover-wrapper
log() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() {
	log "$*"
	exit 2
}

[ -n "${COVER_BIN:-}" ] || die "COVER_BIN is not set (the coverage test binary to run)"
[ -f "$COVER_BIN" ] && [ -x "$COVER_BIN" ] || die "COVER_BIN=$COVER_BIN is not an executable file"
COVER_DIR=${COVER_DIR:-/cover}
case $COVER_DIR in
/*) ;;
*) COVER_DIR=$(pwd)/$COVER_DIR ;;
esac
mkdir -p "$COVER_DIR" || die "cannot create the cover directory $COVER_DIR"
COVKILL_ADDR=${COVKILL_ADDR:-:19999}
export COVKILL_ADDR
kind=${COVER_KIND:-test}
case $kind in test | cover) ;; *) die "COVER_KIND=$kind: expected test or cover" ;; esac
restart=${COVER_RESTART:-always}
case $restart in always | never) ;; *) die "COVER_RESTART=$restart: expected always or never" ;; esac
min_uptime=${COVER_MIN_UPTIME:-2}
backoff_max=${COVER_BACKOFF_MAX:-30}
for v in "$min_uptime" "$backoff_max"; do
	case $v in '' | *[!0-9]*) die "COVER_MIN_UPTIME and COVER_BACKOFF_MAX take whole seconds, got '$v'" ;; esac
done
name=${COVER_BIN##*/}
# The profile being written: a name of this wrapper's own, so that wrappers
# sharing one cover directory (a bind mount, local processes) never touch
# each other's (the PID alone is 1 in every container).
running=$COVER_DIR/.cover-running.$(hostname 2>/dev/null || echo host).$$.out
# Where the test binary writes the counters it turns into that profile when
# it exits (otherwise a temp dir of its own under TMPDIR): in the cover
# directory, a volume in the images, whose writes cost less than the root
# filesystem's on some storage drivers. One per run: Go reads every file
# in it.
gocoverdir=${running%.out}.gocoverdir

# A Go test binary needs a writable temp dir to produce its profile ("bad
# os.MkdirTemp return" otherwise): images without /tmp, read-only root
# filesystems. Fall back to a dot-directory of the cover directory.
tmp=${TMPDIR:-/tmp}
probe=$tmp/.cover-wrapper-probe.$$
if (: >"$probe") 2>/dev/null; then
	rm -f "$probe"
else
	TMPDIR=$COVER_DIR/.tmp
	export TMPDIR
	mkdir -p "$TMPDIR" || die "$tmp is not writable and neither is $TMPDIR"
	log "$tmp is not writable; using TMPDIR=$TMPDIR"
fi

# next_number prints one more than the largest n of the cover-<n>.out present.
next_number() {
	max=0
	for f in "$COVER_DIR"/cover-*.out; do
		n=${f##*/cover-}
		n=${n%.out}
		case $n in '' | *[!0-9]*) continue ;; esac
		n=$((n + 0))
		if [ "$n" -gt "$max" ]; then max=$n; fi
	done
	echo $((max + 1))
}

# keep_profile STATUS moves the finished run's profile to the next
# cover-<n>.out. Exit 0 (PASS) and 1 (FAIL) come after the profile was fully
# written; anything else (a crash, a kill, a failed profile write) may leave
# a partial file, which would report misleading coverage: drop it.
# prune_snapshots PID keeps only the newest covcounters file of process PID:
# snapshots are cumulative, and the harness cannot always delete its last
# one before a service that handles SIGTERM exits.
prune_snapshots() {
	newest=
	for f in "$COVER_DIR"/covcounters.*."$1".*; do
		[ -e "$f" ] || continue
		if [ -z "$newest" ] || [ "${f##*.}" -gt "${newest##*.}" ]; then
			[ -n "$newest" ] && rm -f "$newest"
			newest=$f
		else
			rm -f "$f"
		fi
	done
}

# retire_counters gives the counter files of processes that ended before
# this wrapper started (an earlier container on the same cover directory:
# `docker restart`, a Kubernetes container restarted in place, a Swarm
# task replaced on its slot's volume) a process number of their own. Go
# names counter files by process id, which starts again from the same
# numbers in every container: unrenamed, the next process's snapshots
# would be taken for newer snapshots of the old one (and pruned with it),
# and the old counts lost. A retired file keeps its hash and time; its
# process number becomes PID + G*10000000 (above any Linux pid_max), with
# G one more than the largest G present. Live processes of this host
# (wrappers sharing a directory as local processes) are left alone.
retire_counters() {
	gen=0
	for f in "$COVER_DIR"/covcounters.*.*.*; do
		[ -e "$f" ] || return 0
		p=${f%.*}
		p=${p##*.}
		case $p in '' | *[!0-9]*) continue ;; esac
		[ $((p / 10000000)) -gt "$gen" ] && gen=$((p / 10000000))
	done
	gen=$((gen + 1))
	for f in "$COVER_DIR"/covcounters.*.*.*; do
		base=${f%.*}
		nano=${f##*.}
		p=${base##*.}
		case $p in '' | *[!0-9]*) continue ;; esac
		[ "$p" -lt 10000000 ] || continue
		kill -0 "$p" 2>/dev/null && continue
		mv -f "$f" "${base%.*}.$((p + gen * 10000000)).$nano" ||
			log "cannot retire $f: its counts may be taken for a later process's"
	done
}

kept=
keep_profile() {
	kept=
	if [ "$kind" = cover ]; then
		# Go wrote its counters itself at exit (a killswitch stop exits 0).
		[ "$1" -eq 0 ] && kept=$COVER_DIR
		prune_snapshots "$ran"
		return
	fi
	if [ ! -s "$running" ]; then
		rm -f "$running"
		log "$name exited with status $1 and wrote no profile"
		return
	fi
	case $1 in
	0 | 1) ;;
	*)
		rm -f "$running"
		log "$name exited with status $1; dropped its possibly partial profile"
		return
		;;
	esac
	while :; do
		final=$COVER_DIR/cover-$(next_number).out
		# ln fails if the name exists, so no profile is ever replaced.
		if ln "$running" "$final" 2>/dev/null; then
			rm -f "$running"
			break
		fi
		[ -e "$final" ] && continue
		# A filesystem without hard links: rename, atomic as well.
		if mv "$running" "$final"; then break; fi
		log "cannot move $running to $final; it stays there"
		return
	done
	kept=$final
	log "profile written: $final"
}

[ "$kind" = cover ] && retire_counters

signals=0
stop=
child=
sleeper=
on_signal() {
	signals=$((signals + 1))
	if [ -n "$stop" ]; then
		log "second SIG$1: killing $name (its profile is lost)"
		[ -n "$child" ] && kill -s KILL "$child" 2>/dev/null
	else
		stop=$1
		if [ -n "$child" ]; then
			log "SIG$1 received: stopping $name (SIGTERM), keeping its profile"
			kill -s TERM "$child" 2>/dev/null
		fi
	fi
	[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

stopped() {
	log "stopped by SIG$stop"
	if [ -n "$kept" ] || [ -z "${status:-}" ]; then exit 0; fi
	exit "$status"
}

# now sets $now to a count of seconds. A restart after a stop is on the
# way of every covkill of a fleet, so on Linux it forks nothing: the
# kernel's uptime; elsewhere date(1).
now() {
	if read -r now _ 2>/dev/null </proc/uptime; then
		now=${now%.*}
	else
		now=$(date +%s)
	fi
}

streak=0
runs=0
while :; do
	[ -n "$stop" ] && stopped
	[ -e "$running" ] && rm -f "$running"
	runs=$((runs + 1))
	now
	started=$now
	if [ "$kind" = cover ]; then
		log "run $runs: $COVER_BIN $*"
		GOCOVERDIR=$COVER_DIR "$COVER_BIN" "$@" &
	else
		rm -rf "$gocoverdir"
		mkdir "$gocoverdir" || die "cannot create $gocoverdir"
		if [ -n "${COVER_TEST:-}" ]; then
			log "run $runs: $COVER_BIN -test.run=^$COVER_TEST\$ $*"
			"$COVER_BIN" "-test.run=^$COVER_TEST\$" "-test.coverprofile=$running" "-test.gocoverdir=$gocoverdir" "$@" &
		else
			log "run $runs: $COVER_BIN -- $*"
			"$COVER_BIN" '-test.run=^TestCovtoolsHarness$' "-test.coverprofile=$running" "-test.gocoverdir=$gocoverdir" -- "$@" &
		fi
	fi
	child=$!
	ran=$child
	[ -n "$stop" ] && kill -s TERM "$child" 2>/dev/null
	# A trapped signal interrupts wait (status > 128) while the child runs on;
	# wait again until a wait returns without a signal in between. 127 means
	# the shell had already collected the child's status.
	status=
	while :; do
		before=$signals
		wait "$child"
		rc=$?
		if [ "$rc" -eq 127 ] && [ -n "$status" ]; then break; fi
		status=$rc
		[ "$signals" = "$before" ] && break
	done
	child=
	now
	elapsed=$((now - started))
	[ "$kind" = cover ] || rm -rf "$gocoverdir"
	keep_profile "$status"
	[ -n "$stop" ] && stopped
	if [ "$restart" = never ]; then
		log "$name exited with status $status; COVER_RESTART=never"
		exit "$status"
	fi
	if [ "$elapsed" -ge "$min_uptime" ] || { [ -n "$kept" ] && [ "$status" -eq 0 ]; }; then
		# A long run, or a clean stop that kept its profile (the killswitch):
		# start again at once.
		streak=0
		log "$name exited with status $status after ${elapsed}s; restarting"
		continue
	fi
	# Quick exits (wrong flags, a missing peer...) back off exponentially,
	# so a broken service cannot spin, and every failure is logged.
	streak=$((streak + 1))
	delay=1
	i=1
	while [ "$i" -lt "$streak" ] && [ "$delay" -lt "$backoff_max" ]; do
		delay=$((delay * 2))
		i=$((i + 1))
	done
	[ "$delay" -gt "$backoff_max" ] && delay=$backoff_max
	log "$name exited with status $status after ${elapsed}s (quick exit $streak in a row); restarting in ${delay}s"
	sleep "$delay" &
	sleeper=$!
	wait "$sleeper"
	sleeper=
done
