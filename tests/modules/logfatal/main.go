// Command logfatal is an example module of covtools' test suite.
// A service whose main calls log.Fatal when it cannot listen (the port
// is taken): it dies at start, and says why on stderr.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	log.Fatal(http.Serve(ln, routes("hello")))
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
