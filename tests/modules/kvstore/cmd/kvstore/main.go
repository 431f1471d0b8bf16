// Command kvstore is an example module of covtools' test suite: an HTTP
// key-value service that keeps its state in Redis, talking to it through
// the module's own protocol client (internal/resp), as a service with a
// real database does. compose.yaml runs it beside Redis.
//
// Environment: PORT (default 8080) and REDIS_ADDR (default
// localhost:6379).
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"example.com/kvstore/internal/resp"
)

func main() {
	port := env("PORT", "8080")
	redisAddr := env("REDIS_ADDR", "localhost:6379")

	db, err := dialRedis(redisAddr, 30*time.Second)
	if err != nil {
		log.Fatalf("redis at %s: %v", redisAddr, err)
	}
	defer db.Close()

	srv := &http.Server{
		Addr:              ":" + port,
		Handler:           routes(db),
		ReadHeaderTimeout: 10 * time.Second,
	}
	// SIGTERM (docker stop, compose down) ends the service through a
	// return from main, after the requests in flight are answered.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() {
		log.Printf("listening on :%s, redis at %s", port, redisAddr)
		errc <- srv.ListenAndServe()
	}()
	select {
	case err := <-errc:
		log.Fatalf("serve: %v", err)
	case <-ctx.Done():
	}
	log.Print("stopping")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("shutdown: %v", err)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// dialRedis retries for a while: started without a health-checked
// dependency, the service may come up before Redis does.
func dialRedis(addr string, wait time.Duration) (*resp.Client, error) {
	deadline := time.Now().Add(wait)
	for {
		db, err := resp.Dial(addr, 5*time.Second)
		if err == nil || time.Now().After(deadline) {
			return db, err
		}
		log.Printf("waiting for redis: %v", err)
		time.Sleep(500 * time.Millisecond)
	}
}
