// Command portenv is an example module of covtools' test suite.
// A service that takes its port from the PORT environment variable, as
// twelve-factor services do.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	log.Printf("listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, routes("hello")))
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
