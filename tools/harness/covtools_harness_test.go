// covtools coverage harness. Injected into a service's package main by
// `go test -c -overlay` (covtools build); never copied into the
// service's tree. It runs the service's main() under `go test` and returns
// when the killswitch is hit or SIGTERM/SIGINT arrives, so that the test
// binary exits cleanly and writes -test.coverprofile.
//
// Run the built binary as
//
//	svc.test -test.run='^TestCovtoolsHarness$' -test.coverprofile=p.out -- SERVICE ARGS...
//
// The service's arguments come after "--": testing's flag parsing stops
// there, and they are handed to main() as os.Args (program name first), so
// flags registered at package level and flags registered inside main() both
// work.
//
// Environment:
//
//	COVKILL_ADDR   killswitch listen address (default ":19999"). GET /covkill
//	               answers 200, then the harness returns (GET / does the same,
//	               for covkill releases that asked "/"); /covtools/flush,
//	               /covtools/snapshot and /covtools/reset answer 501 (a test
//	               binary cannot snapshot: that needs the cover build kind);
//	               GET /covtools/list answers one line "<name> <length>" per
//	               complete coverage file of the cover directory, and
//	               /covtools/files the same lines each followed by the file's
//	               bytes (no snapshot: the files as they are), so that covkill
//	               and covpull need no exec in the container; once the run is
//	               stopping both answer 503, so that a reader never takes the
//	               ending run's answer for the next run's; any other path is
//	               404.
//	               Every answer carries the header "Covtools-Harness: test".
//	COVER_DIR      the cover directory /covtools/list and /covtools/files
//	               read (default: the directory of -test.coverprofile, where
//	               the wrapper has the profile written).
//	COVKILL_GRACE  after SIGTERM/SIGINT, how long main() may take to finish
//	               its own shutdown before the harness returns (default 5s).
//
// Every identifier here carries the covtools prefix, and the imports are
// renamed, because this file shares package main with the service and its
// own tests. It compiles under every language version a module may declare
// (go 1.16 and later): no `any`, no generics, no newer builtins.
package main

import (
	covtoolsContext "context"
	covtoolsFlag "flag"
	covtoolsFmt "fmt"
	covtoolsNet "net"
	covtoolsHTTP "net/http"
	covtoolsOS "os"
	covtoolsSignal "os/signal"
	covtoolsFilepath "path/filepath"
	covtoolsStrings "strings"
	covtoolsSync "sync"
	covtoolsSyscall "syscall"
	covtoolsTesting "testing"
	covtoolsTime "time"
)

func covtoolsHarnessLog(format string, args ...interface{}) {
	covtoolsFmt.Fprintf(covtoolsOS.Stderr, "covtools harness: "+format+"\n", args...)
}

func covtoolsHarnessEnv(name, def string) string {
	if v := covtoolsOS.Getenv(name); v != "" {
		return v
	}
	return def
}

// TestCovtoolsHarness runs main() until the killswitch or a signal.
func TestCovtoolsHarness(t *covtoolsTesting.T) {
	killAddr := covtoolsHarnessEnv("COVKILL_ADDR", ":19999")
	grace, err := covtoolsTime.ParseDuration(covtoolsHarnessEnv("COVKILL_GRACE", "5s"))
	if err != nil {
		covtoolsHarnessSetupFailed("COVKILL_GRACE: %v", err)
	}

	// Registered before main() runs, so a SIGTERM can never take Go's default
	// action (exit without a profile); the registration stays until the
	// process exits so a second signal cannot interrupt the profile write.
	sigs := make(chan covtoolsOS.Signal, 2)
	covtoolsSignal.Notify(sigs, covtoolsSyscall.SIGTERM, covtoolsSyscall.SIGINT)

	// The killswitch has its own listener and a private handler: services
	// that register "/" on http.DefaultServeMux must not collide with it.
	ln, err := covtoolsNet.Listen("tcp", killAddr)
	if err != nil {
		covtoolsHarnessSetupFailed("killswitch cannot listen on %s (set COVKILL_ADDR): %v", killAddr, err)
	}
	killed := make(chan struct{})
	var once covtoolsSync.Once
	// Closed as soon as the run is ending (the killswitch, a signal): the
	// listing paths then answer 503, never this run's files for the next's.
	stopping := make(chan struct{})
	var stopOnce covtoolsSync.Once
	stop := func() { stopOnce.Do(func() { close(stopping) }) }
	coverDir := covtoolsHarnessCoverDir()
	srv := &covtoolsHTTP.Server{
		Handler: covtoolsHTTP.HandlerFunc(func(w covtoolsHTTP.ResponseWriter, r *covtoolsHTTP.Request) {
			w.Header().Set("Covtools-Harness", "test")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			switch r.URL.Path {
			case "/covkill", "/":
				stop()
				w.WriteHeader(covtoolsHTTP.StatusOK)
				covtoolsFmt.Fprintln(w, "covtools: stopping, the coverage profile is written on exit")
				if f, ok := w.(covtoolsHTTP.Flusher); ok {
					f.Flush()
				}
				once.Do(func() { close(killed) })
			case "/covtools/flush", "/covtools/snapshot", "/covtools/reset":
				w.WriteHeader(covtoolsHTTP.StatusNotImplemented)
				covtoolsFmt.Fprintf(w, "covtools: build kind test (go test -c -cover, covermode %s) cannot take live snapshots or reset counters; build with [build] kind = \"cover\" (covermode atomic), e.g. --set build.kind=cover\n", covtoolsTesting.CoverMode())
			case "/covtools/list", "/covtools/files":
				select {
				case <-stopping:
					w.WriteHeader(covtoolsHTTP.StatusServiceUnavailable)
					covtoolsFmt.Fprintln(w, "covtools: this run is ending; ask again once the service is back")
					return
				default:
				}
				covtoolsHarnessServeFiles(w, coverDir, r.URL.Path == "/covtools/files")
			default:
				w.WriteHeader(covtoolsHTTP.StatusNotFound)
				covtoolsFmt.Fprintf(w, "covtools: no %s here; the harness serves /covkill, /covtools/flush, /covtools/snapshot, /covtools/reset, /covtools/list and /covtools/files\n", r.URL.Path)
			}
		}),
		ReadHeaderTimeout: 5 * covtoolsTime.Second,
	}
	go srv.Serve(ln)
	covtoolsHarnessLog("killswitch on %s", ln.Addr())

	// The service sees only its own arguments, as if started directly.
	covtoolsOS.Args = append([]string{covtoolsOS.Args[0]}, covtoolsFlag.Args()...)

	mainDone := make(chan struct{})
	go func() {
		defer close(mainDone)
		main()
	}()

	select {
	case <-killed:
		covtoolsHarnessLog("killswitch hit, stopping")
	case sig := <-sigs:
		stop()
		covtoolsHarnessLog("%v received, stopping", sig)
		// The service usually handles the signal too (it was delivered to
		// every channel registered for it): let it finish its shutdown.
		select {
		case <-mainDone:
		case <-covtoolsTime.After(grace):
			covtoolsHarnessLog("main() still running after %s, writing the profile anyway", grace)
		}
	case <-mainDone:
		covtoolsHarnessLog("main() returned")
	}

	// Shutdown waits until the killswitch's answer has been sent.
	ctx, cancel := covtoolsContext.WithTimeout(covtoolsContext.Background(), 2*covtoolsTime.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// covtoolsHarnessSetupFailed ends the binary before the service ran, with
// exit status 3 and no profile: a failed test (status 1) would still write
// one, an empty run that the restart wrapper would keep on every retry.
func covtoolsHarnessSetupFailed(format string, args ...interface{}) {
	covtoolsHarnessLog(format, args...)
	covtoolsOS.Exit(3)
}

// covtoolsHarnessCoverDir is the directory the listing paths read: $COVER_DIR,
// else the directory of -test.coverprofile.
func covtoolsHarnessCoverDir() string {
	if d := covtoolsOS.Getenv("COVER_DIR"); d != "" {
		return d
	}
	if f := covtoolsFlag.Lookup("test.coverprofile"); f != nil && f.Value.String() != "" {
		return covtoolsFilepath.Dir(f.Value.String())
	}
	return ""
}

// covtoolsHarnessServeFiles answers /covtools/list (withData false) and
// /covtools/files: per complete coverage file of dir a line
// "<name> <length>", and for files its bytes. One file is in memory at a
// time; a file that vanishes between the listing and its read is left out.
func covtoolsHarnessServeFiles(w covtoolsHTTP.ResponseWriter, dir string, withData bool) {
	if dir == "" {
		w.WriteHeader(covtoolsHTTP.StatusInternalServerError)
		covtoolsFmt.Fprintln(w, "covtools: no cover directory (set COVER_DIR)")
		return
	}
	entries, err := covtoolsOS.ReadDir(dir)
	if err != nil && !covtoolsOS.IsNotExist(err) {
		w.WriteHeader(covtoolsHTTP.StatusInternalServerError)
		covtoolsFmt.Fprintf(w, "covtools: reading %s: %v\n", dir, err)
		return
	}
	if withData {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.WriteHeader(covtoolsHTTP.StatusOK)
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !covtoolsHarnessIsCoverageFile(name) {
			continue
		}
		path := covtoolsFilepath.Join(dir, name)
		if !withData {
			info, err := e.Info()
			if err != nil {
				continue
			}
			covtoolsFmt.Fprintf(w, "%s %d\n", name, info.Size())
			continue
		}
		data, err := covtoolsOS.ReadFile(path)
		if covtoolsOS.IsNotExist(err) {
			continue
		}
		if err != nil {
			// Cut the answer short: the reader sees a broken transfer and
			// takes the exec path, which names the unreadable file.
			panic(covtoolsHTTP.ErrAbortHandler)
		}
		covtoolsFmt.Fprintf(w, "%s %d\n", name, len(data))
		if _, err := w.Write(data); err != nil {
			return
		}
	}
}

// covtoolsHarnessIsCoverageFile tells the names of complete coverage files,
// as covpull selects them: cover-<n>.out, covmeta.<hex>,
// covcounters.<hex>.<pid>.<nanotime>. Temporary names start with ".".
func covtoolsHarnessIsCoverageFile(name string) bool {
	all := func(s, set string) bool {
		if s == "" {
			return false
		}
		for _, c := range s {
			if !covtoolsStrings.ContainsRune(set, c) {
				return false
			}
		}
		return true
	}
	const hex, dec = "0123456789abcdef", "0123456789"
	switch {
	case covtoolsStrings.HasPrefix(name, "covmeta."):
		return all(covtoolsStrings.TrimPrefix(name, "covmeta."), hex)
	case covtoolsStrings.HasPrefix(name, "covcounters."):
		parts := covtoolsStrings.Split(covtoolsStrings.TrimPrefix(name, "covcounters."), ".")
		return len(parts) == 3 && all(parts[0], hex) && all(parts[1], dec) && all(parts[2], dec)
	case covtoolsStrings.HasPrefix(name, "cover-") && covtoolsStrings.HasSuffix(name, ".out"):
		return all(covtoolsStrings.TrimSuffix(covtoolsStrings.TrimPrefix(name, "cover-"), ".out"), dec)
	}
	return false
}
