// Command legacy is a service that already carries the classic hand-written
// coverage harness (main_test.go's TestRun); covtools runs it through that
// test instead of injecting its own (harness_test = "TestRun"). It lives in
// testdata so that the example's ./... patterns skip it.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
)

var addr = flag.String("addr", ":8080", "listen address")

func greet(name string) string {
	if name == "" {
		name = "world"
	}
	return fmt.Sprintf("hello, %s", name)
}

// neverCalled stays uncovered.
func neverCalled() int { return 42 }

func main() {
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, greet(r.URL.Query().Get("name")))
	})
	log.Printf("legacy: listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
