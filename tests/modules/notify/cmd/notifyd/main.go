// notifyd queues notifications over HTTP. It is written in a different
// style from the shop: flags parsed in main, the port from an environment
// variable, and its own SIGTERM handling with a graceful shutdown whose exit
// status says whether undelivered messages were lost.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"example.com/notify/internal/outbox"
)

// exitLost is the status of a shutdown that dropped undelivered messages.
const exitLost = 4

func main() {
	limit := flag.Int("limit", 10, "messages kept per recipient")
	drain := flag.Duration("drain", 2*time.Second, "how long a shutdown waits for requests in flight")
	flag.Parse()

	port := os.Getenv("NOTIFY_PORT")
	if port == "" {
		log.Fatal("NOTIFY_PORT is not set")
	}
	box := outbox.New(*limit)
	srv := &http.Server{Addr: os.Getenv("NOTIFY_HOST") + ":" + port, Handler: routes(box)}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	log.Printf("notifyd: listening on %s", srv.Addr)

	select {
	case err := <-errs:
		log.Fatalf("notifyd: %v", err)
	case <-ctx.Done():
	}
	log.Printf("notifyd: shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("notifyd: shutdown: %v", err)
	}
	if n := box.Pending(); n > 0 {
		log.Printf("notifyd: graceful shutdown lost %d undelivered message(s)", n)
		os.Exit(exitLost)
	}
	log.Printf("notifyd: graceful shutdown, nothing lost")
}

func routes(box *outbox.Outbox) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/notify", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		var m outbox.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		dropped, err := box.Push(m)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		if dropped {
			w.Header().Set("X-Dropped", "1")
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("/inbox/", func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Path[len("/inbox/"):]
		msgs := box.Take(to)
		if msgs == nil {
			msgs = []outbox.Message{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(msgs)
	})
	return mux
}
