package main

import (
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain is here because real services have one; it must call m.Run.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}

// startServer is a helper name a hand-written harness might also declare.
func startServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProxyStripsAPIPrefix(t *testing.T) {
	up := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream saw "+r.URL.Path)
	}))
	h, err := newHandler(up.URL, up.URL)
	if err != nil {
		t.Fatal(err)
	}
	gw := startServer(t, h)
	for path, want := range map[string]string{
		"/api/products/p1": "upstream saw /products/p1",
		"/api/orders":      "upstream saw /orders",
	} {
		if code, body := get(t, gw.URL+path); code != 200 || body != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, code, body, want)
		}
	}
}

func TestReadyzNamesDownUpstream(t *testing.T) {
	up := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "{}")
	}))
	h, err := newHandler(up.URL, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	gw := startServer(t, h)
	code, body := get(t, gw.URL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"catalog":"ok"`) || !strings.Contains(body, "orders") {
		t.Errorf("readyz = %d %s", code, body)
	}
}

func TestBadUpstreamURL(t *testing.T) {
	if _, err := newHandler("catalog:8080", "http://orders"); err == nil {
		t.Fatal("want an error for a URL without scheme")
	}
}

// TestRun is the name the classic coverage harness uses for itself.
func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, addr, "http://127.0.0.1:1", "http://127.0.0.1:1") }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v after cancel", err)
	}
}
