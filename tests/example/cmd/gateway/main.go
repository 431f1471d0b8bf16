// Command gateway is the shop's public entry point: it routes /api/products
// to the catalog and /api/orders to orders, and reports readiness of both.
//
// It has its own tests in package main (with a TestMain, a TestRun and
// helpers whose names a hand-written coverage harness might also use).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"example.com/shop/internal/config"
	"example.com/shop/internal/httpx"
)

var (
	addr       = flag.String("addr", config.Env("GATEWAY_ADDR", ":8080"), "listen address (env GATEWAY_ADDR)")
	catalogURL = flag.String("catalog", config.Env("CATALOG_URL", "http://catalog:8080"), "catalog base URL (env CATALOG_URL)")
	ordersURL  = flag.String("orders", config.Env("ORDERS_URL", "http://orders:8080"), "orders base URL (env ORDERS_URL)")
)

func main() {
	flag.Parse()
	ctx, stop := httpx.SignalContext()
	defer stop()
	if err := run(ctx, *addr, *catalogURL, *ordersURL); err != nil {
		log.Fatalf("gateway: %v", err)
	}
	log.Printf("gateway: stopped")
}

// run serves the gateway on addr until ctx is cancelled.
func run(ctx context.Context, addr, catalog, orders string) error {
	h, err := newHandler(catalog, orders)
	if err != nil {
		return err
	}
	return httpx.Serve(ctx, "gateway", addr, h)
}

func newHandler(catalog, orders string) (http.Handler, error) {
	upstreams := map[string]string{"catalog": catalog, "orders": orders}
	mux := http.NewServeMux()
	for prefix, name := range map[string]string{"/api/products": "catalog", "/api/orders": "orders"} {
		u, err := url.Parse(upstreams[name])
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("bad %s URL %q", name, upstreams[name])
		}
		proxy := http.StripPrefix("/api", httputil.NewSingleHostReverseProxy(u))
		mux.Handle(prefix, proxy)
		mux.Handle(prefix+"/", proxy)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ready(w, r, upstreams)
	})
	return mux, nil
}

// ready answers 200 when every upstream answers its /healthz, else 503
// naming the ones that do not.
func ready(w http.ResponseWriter, r *http.Request, upstreams map[string]string) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{}
	code := http.StatusOK
	for name, base := range upstreams {
		c := httpx.NewClient(base)
		if err := c.GetJSON(ctx, "/healthz", nil); err != nil {
			status[name] = err.Error()
			code = http.StatusServiceUnavailable
			continue
		}
		status[name] = "ok"
	}
	httpx.WriteJSON(w, code, status)
}
