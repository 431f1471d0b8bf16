// Command portflag is an example module of covtools' test suite.
// A service that takes a bare port (-port 8080), not an address.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
)

func main() {
	port := flag.Int("port", 8080, "listen port")
	flag.Parse()
	addr := fmt.Sprintf(":%d", *port)
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, routes("hello")))
}

// routes registers the service's handlers; the e2e suite calls some of
// them, so the figure is neither 0 nor 100%.
func routes(greeting string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			http.Error(w, "name is required", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s, %s\n", greeting, name)
	})
	mux.HandleFunc("/admin", func(w http.ResponseWriter, r *http.Request) {
		// Never called by the e2e suite.
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		fmt.Fprintln(w, "done")
	})
	return mux
}
