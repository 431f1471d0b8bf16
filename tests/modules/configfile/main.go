// Command configfile is an example module of covtools' test suite.
// A service that reads its configuration from a file relative to its
// working directory (config/greeting.txt), as many do.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()
	text, err := os.ReadFile("config/greeting.txt")
	if err != nil {
		log.Fatalf("reading the configuration: %v", err)
	}
	greeting := strings.TrimSpace(string(text))
	log.Printf("listening on %s, greeting %q", *addr, greeting)
	log.Fatal(http.ListenAndServe(*addr, routes(greeting)))
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
