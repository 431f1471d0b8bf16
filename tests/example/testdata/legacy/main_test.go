package main

import (
	"net/http"
	"os"
	"testing"
)

// TestRun is the classic harness: run main() and return when the killswitch
// is hit, so that the test binary writes its coverage profile. The service's
// flags are test-binary flags here (they are registered at package level).
func TestRun(t *testing.T) {
	killswitch := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("bye\n"))
		close(killswitch)
	})
	addr := os.Getenv("COVKILL_ADDR")
	if addr == "" {
		addr = ":19999"
	}
	go http.ListenAndServe(addr, mux)
	go main()
	<-killswitch
}

func TestGreet(t *testing.T) {
	if got := greet(""); got != "hello, world" {
		t.Fatal(got)
	}
}
