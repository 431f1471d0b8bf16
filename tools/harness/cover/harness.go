// Package harness is covtools' harness for the build kind "cover": the
// service's real main built with `go build -cover -covermode=atomic`.
// covtools build builds from a temporary copy of the module in
// which one file of package main imports this package for its init(); the
// user's tree is never written to. It lives in a module of its own
// (covtools.local/harness), outside -coverpkg, so its code never appears in a
// profile, and it compiles under every language version (go 1.16 and later):
// no `any`, no generics, no newer builtins.
//
// init() starts the killswitch listener (COVKILL_ADDR, default ":19999")
// before the service's own init and main run. Every answer carries the
// header "Covtools-Harness: cover".
//
//	GET /covkill          200, then os.Exit(0): Go writes the final counters
//	                      (GET / does the same, for covkill releases that asked "/").
//	GET /covtools/flush   writes a complete snapshot (meta-data and counters)
//	                      into GOCOVERDIR: into a temporary directory first,
//	                      then renamed in; the previous snapshot of this
//	                      process is deleted (snapshots are cumulative). 200
//	                      with one line per file now in place. 501 when the
//	                      binary is not in atomic mode.
//	GET /covtools/snapshot
//	                      takes a snapshot exactly as /covtools/flush does,
//	                      then answers 200 with the bytes of every complete
//	                      coverage file now in GOCOVERDIR (covmeta.<hex>,
//	                      covcounters.<hex>.<pid>.<nanotime>, cover-<n>.out;
//	                      earlier processes' files included), so that covpull
//	                      needs no exec in the container. Body: per file a
//	                      line "<name> <length>\n", then its <length> bytes.
//	                      501 when the binary is not in atomic mode.
//	GET /covtools/reset   clears the counters, 200 (501 unless atomic mode).
//	GET /covtools/list    one line "<name> <length>" per complete coverage
//	                      file now in GOCOVERDIR (no snapshot), any mode.
//	GET /covtools/files   the same lines, each followed by the file's bytes:
//	                      the files as they are (no snapshot), any mode.
//	                      Both answer 503 once the process is exiting, so
//	                      that a reader never takes this process's answer
//	                      for the next one's.
//	anything else         404.
//
// SIGTERM and SIGINT: a service that handles them shuts down by itself and
// Go writes the counters at exit, with the service's own exit status. A
// `go build -cover` binary that dies of an unhandled signal writes no
// counters, so when the process is still running COVKILL_GRACE (default 5s)
// after the signal, or a second signal arrives, the harness ends it with
// os.Exit(128+signal) (143 for SIGTERM, the status a shell or Docker reports
// for death by SIGTERM), and Go's exit hook writes the counters.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/coverage"
	"strings"
	"sync"
	"syscall"
	"time"
)

// coverMode is the -covermode of the build (set with -ldflags -X by
// covtools build).
var coverMode = "unknown"

func logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "covtools harness: "+format+"\n", args...)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// setupFailed ends the process before the service ran (status 3).
func setupFailed(format string, args ...interface{}) {
	logf(format, args...)
	os.Exit(3)
}

type harness struct {
	dir   string
	grace time.Duration
	srv   *http.Server

	mu   sync.Mutex // one snapshot, reset or exit at a time
	last string     // the counter file of this process's newest snapshot
	kill sync.Once

	// Known from the first snapshot: this binary's meta-data hash, its
	// meta-data file's name and bytes.
	hash, metaName string
	meta           []byte

	stopping     chan struct{} // closed once the process is exiting
	stoppingOnce sync.Once
}

// stop marks the process as exiting (the killswitch, a signal).
func (h *harness) stop() { h.stoppingOnce.Do(func() { close(h.stopping) }) }

func init() {
	addr := env("COVKILL_ADDR", ":19999")
	grace, err := time.ParseDuration(env("COVKILL_GRACE", "5s"))
	if err != nil {
		setupFailed("COVKILL_GRACE: %v", err)
	}
	h := &harness{dir: os.Getenv("GOCOVERDIR"), grace: grace, stopping: make(chan struct{})}
	if h.dir == "" {
		logf("GOCOVERDIR is not set: Go writes no coverage and /covtools/flush fails")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		setupFailed("killswitch cannot listen on %s (set COVKILL_ADDR): %v", addr, err)
	}
	// Registered before the service's init and main, so a signal the service
	// does not handle never takes Go's default action (death without counters).
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go h.onSignal(sigs)
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go h.srv.Serve(ln)
	logf("killswitch on %s", ln.Addr())
}

func (h *harness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Covtools-Harness", "cover")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch r.URL.Path {
	case "/covkill", "/":
		h.stop()
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, "covtools: stopping, Go writes the coverage counters on exit")
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		h.kill.Do(func() { go h.exitAfterAnswer() })
	case "/covtools/flush":
		if !h.canSnapshot(w) {
			return
		}
		names, err := h.snapshot()
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "covtools: snapshot failed: %v\n", err)
			return
		}
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, strings.Join(names, "\n"))
	case "/covtools/snapshot":
		if !h.canSnapshot(w) {
			return
		}
		body, err := h.snapshotBytes()
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "covtools: snapshot failed: %v\n", err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	case "/covtools/reset":
		if !h.canSnapshot(w) {
			return
		}
		h.mu.Lock()
		err := coverage.ClearCounters()
		h.mu.Unlock()
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "covtools: reset failed: %v\n", err)
			return
		}
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, "covtools: counters cleared")
	case "/covtools/list", "/covtools/files":
		select {
		case <-h.stopping:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "covtools: this process is exiting; ask again once the service is back")
			return
		default:
		}
		h.serveFiles(w, r.URL.Path == "/covtools/files")
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "covtools: no %s here; the harness serves /covkill, /covtools/flush, /covtools/snapshot, /covtools/reset, /covtools/list and /covtools/files\n", r.URL.Path)
	}
}

// canSnapshot answers 501 at once when Go would refuse (not atomic mode).
func (h *harness) canSnapshot(w http.ResponseWriter) bool {
	if coverMode == "atomic" {
		return true
	}
	w.WriteHeader(http.StatusNotImplemented)
	fmt.Fprintf(w, "covtools: build kind cover with covermode %s cannot take live snapshots or reset counters (Go needs atomic); set [build] cover_mode = \"atomic\", e.g. --set build.cover_mode=atomic\n", coverMode)
	return false
}

// snapshot writes a complete snapshot (meta-data and counters) into the
// cover directory, deletes this process's previous one, and returns the
// names now in place.
func (h *harness) snapshot() ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	name, _, err := h.snapshotLocked()
	if err != nil {
		return nil, err
	}
	// The meta-data, in place since the first snapshot, unless removed.
	if _, err := os.Stat(filepath.Join(h.dir, h.metaName)); err != nil {
		if err := writeRenamed(h.dir, h.metaName, h.meta); err != nil {
			return nil, err
		}
	}
	return []string{h.metaName, name}, nil
}

// snapshotLocked takes the snapshot (h.mu held): its counter file's name
// and bytes. The first one is Go's own WriteMetaDir and WriteCountersDir,
// whose file names tell this binary's meta-data hash; the meta-data (the
// same for the whole process) is then kept in memory, and the later
// snapshots' counters are taken in memory and written under Go's naming
// (covcounters.<hash>.<pid>.<UnixNano>), so that a snapshot costs a
// handful of file operations (each one a round trip to the file system
// daemon on some engines) and its answer reads nothing back.
func (h *harness) snapshotLocked() (string, []byte, error) {
	if h.dir == "" {
		return "", nil, fmt.Errorf("GOCOVERDIR is not set")
	}
	var name string
	var data []byte
	if h.hash == "" {
		if err := coverage.WriteMetaDir(h.dir); err != nil {
			return "", nil, err
		}
		if err := coverage.WriteCountersDir(h.dir); err != nil {
			return "", nil, err
		}
		entries, err := os.ReadDir(h.dir)
		if err != nil {
			return "", nil, err
		}
		// This process's newest counter file is the one just written.
		pid := fmt.Sprint(os.Getpid())
		var newest uint64
		for _, e := range entries {
			n := e.Name()
			parts := strings.Split(n, ".")
			if !isCoverageFile(n) || parts[0] != "covcounters" || parts[2] != pid {
				continue
			}
			var t uint64
			fmt.Sscan(parts[3], &t)
			if name == "" || t > newest {
				name, newest = n, t
			}
		}
		if name == "" {
			return "", nil, fmt.Errorf("Go wrote no counter file into %s", h.dir)
		}
		hash := strings.Split(name, ".")[1]
		meta, err := os.ReadFile(filepath.Join(h.dir, "covmeta."+hash))
		if err != nil {
			return "", nil, err
		}
		if data, err = os.ReadFile(filepath.Join(h.dir, name)); err != nil {
			return "", nil, err
		}
		h.hash, h.metaName, h.meta = hash, "covmeta."+hash, meta
	} else {
		var buf bytes.Buffer
		if err := coverage.WriteCounters(&buf); err != nil {
			return "", nil, err
		}
		data = buf.Bytes()
		name = fmt.Sprintf("covcounters.%s.%d.%d", h.hash, os.Getpid(), time.Now().UnixNano())
		if err := writeRenamed(h.dir, name, data); err != nil {
			return "", nil, err
		}
	}
	if h.last != "" && h.last != name {
		os.Remove(filepath.Join(h.dir, h.last))
	}
	h.last = name
	return name, data, nil
}

// writeRenamed writes a complete file as Go does: under a temporary name
// ("tmp.<name>", never a complete file's), renamed in.
func writeRenamed(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, "tmp."+name)
	if err := os.WriteFile(tmp, data, 0o666); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// snapshotBytes takes a snapshot, then frames every complete coverage file
// of the cover directory: per file "<name> <length>\n" and its bytes, this
// process's own from memory. The lock is held throughout, so no snapshot
// of this process is replaced while it is read; a file that vanishes
// meanwhile (another process's snapshot replaced) is left out.
func (h *harness) snapshotBytes() ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	counters, data, err := h.snapshotLocked()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(h.dir)
	if err != nil {
		return nil, err
	}
	var out []byte
	frame := func(name string, data []byte) {
		out = append(out, fmt.Sprintf("%s %d\n", name, len(data))...)
		out = append(out, data...)
	}
	hasMeta := false
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !isCoverageFile(name) {
			continue
		}
		switch name {
		case counters:
			frame(name, data)
		case h.metaName:
			hasMeta = true
			frame(name, h.meta)
		default:
			other, err := os.ReadFile(filepath.Join(h.dir, name))
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			frame(name, other)
		}
	}
	// The meta-data, in place since the first snapshot, unless removed.
	if !hasMeta {
		if err := writeRenamed(h.dir, h.metaName, h.meta); err != nil {
			return nil, err
		}
		frame(h.metaName, h.meta)
	}
	return out, nil
}

// serveFiles answers /covtools/list (withData false) and /covtools/files:
// per complete coverage file a line "<name> <length>", and for files its
// bytes, one file in memory at a time. The lock keeps this process's own
// snapshot from being replaced meanwhile; a file that vanishes between the
// listing and its read (another process's snapshot replaced) is left out.
func (h *harness) serveFiles(w http.ResponseWriter, withData bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dir == "" {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintln(w, "covtools: GOCOVERDIR is not set")
		return
	}
	entries, err := os.ReadDir(h.dir)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "covtools: reading %s: %v\n", h.dir, err)
		return
	}
	if withData {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.WriteHeader(http.StatusOK)
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !isCoverageFile(name) {
			continue
		}
		if !withData {
			if info, err := e.Info(); err == nil {
				fmt.Fprintf(w, "%s %d\n", name, info.Size())
			}
			continue
		}
		data, err := os.ReadFile(filepath.Join(h.dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			// Cut the answer short: the reader sees a broken transfer and
			// takes the exec path, which names the unreadable file.
			panic(http.ErrAbortHandler)
		}
		fmt.Fprintf(w, "%s %d\n", name, len(data))
		if _, err := w.Write(data); err != nil {
			return
		}
	}
}

// isCoverageFile tells the names of complete coverage files, as covpull
// selects them: covmeta.<hex>, covcounters.<hex>.<pid>.<nanotime>,
// cover-<n>.out. Temporary names start with ".".
func isCoverageFile(name string) bool {
	all := func(s, set string) bool {
		if s == "" {
			return false
		}
		for _, c := range s {
			if !strings.ContainsRune(set, c) {
				return false
			}
		}
		return true
	}
	const hex, dec = "0123456789abcdef", "0123456789"
	switch {
	case strings.HasPrefix(name, "covmeta."):
		return all(strings.TrimPrefix(name, "covmeta."), hex)
	case strings.HasPrefix(name, "covcounters."):
		parts := strings.Split(strings.TrimPrefix(name, "covcounters."), ".")
		return len(parts) == 3 && all(parts[0], hex) && all(parts[1], dec) && all(parts[2], dec)
	case strings.HasPrefix(name, "cover-") && strings.HasSuffix(name, ".out"):
		return all(strings.TrimSuffix(strings.TrimPrefix(name, "cover-"), ".out"), dec)
	}
	return false
}

// dropLastSnapshot deletes this process's snapshot when the final counters
// are about to replace it.
func (h *harness) dropLastSnapshot() {
	if h.last != "" {
		os.Remove(filepath.Join(h.dir, h.last))
		h.last = ""
	}
}

// exitAfterAnswer ends the process once the killswitch's answer is sent;
// os.Exit runs Go's coverage exit hook, which writes the counters.
func (h *harness) exitAfterAnswer() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
	h.mu.Lock()
	h.dropLastSnapshot()
	logf("killswitch hit, exiting")
	os.Exit(0)
}

func (h *harness) onSignal(sigs chan os.Signal) {
	sig := <-sigs
	h.stop()
	// The counters written at exit replace the last snapshot. A service that
	// handles the signal may exit before this runs (a race no Go API can
	// close: user code cannot hook the exit), so readers keep only the newest
	// counter file of each process, and the wrapper prunes after the exit.
	h.mu.Lock()
	h.dropLastSnapshot()
	h.mu.Unlock()
	logf("%v received; the service has %s to exit by itself", sig, h.grace)
	select {
	case <-time.After(h.grace):
		logf("still running %s after %v: exiting with status %d, Go writes the counters", h.grace, sig, 128+int(sig.(syscall.Signal)))
	case again := <-sigs:
		logf("second %v: exiting with status %d, Go writes the counters", again, 128+int(sig.(syscall.Signal)))
	}
	h.mu.Lock()
	h.dropLastSnapshot()
	// The status a shell reports for death by the signal; os.Exit runs Go's
	// coverage exit hook, which death by the signal would not.
	os.Exit(128 + int(sig.(syscall.Signal)))
}
