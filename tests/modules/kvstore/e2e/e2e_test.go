package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// base is the service under test: $SERVICE_URL.
func base(t *testing.T) string {
	t.Helper()
	u := os.Getenv("SERVICE_URL")
	if u == "" {
		t.Fatal("SERVICE_URL is not set")
	}
	return strings.TrimSuffix(u, "/")
}

// key is a key of this run alone: the suite may run twice against one
// Redis.
func key(t *testing.T, name string) string {
	return fmt.Sprintf("%s-%s-%d", t.Name(), name, time.Now().UnixNano())
}

func call(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base(t)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

func want(t *testing.T, method, path, body string, code int) string {
	t.Helper()
	got, text := call(t, method, path, body)
	if got != code {
		t.Fatalf("%s %s: %d %q, want %d", method, path, got, text, code)
	}
	return text
}

func stats(t *testing.T) (hits, misses int64) {
	t.Helper()
	var s struct{ Hits, Misses int64 }
	if err := json.Unmarshal([]byte(want(t, "GET", "/stats", "", 200)), &s); err != nil {
		t.Fatalf("/stats: %v", err)
	}
	return s.Hits, s.Misses
}

func TestHealthz(t *testing.T) {
	want(t, "GET", "/healthz", "", 200)
}

func TestSetThenGet(t *testing.T) {
	k := key(t, "greeting")
	want(t, "PUT", "/items/"+k, "hello, redis", 204)
	if got := want(t, "GET", "/items/"+k, "", 200); got != "hello, redis" {
		t.Fatalf("GET: %q", got)
	}
	// A value with CRLF and non-ASCII bytes survives the protocol's
	// length-prefixed strings.
	v := "line one\r\nline two ünïcode\x00"
	want(t, "PUT", "/items/"+k, v, 204)
	if got := want(t, "GET", "/items/"+k, "", 200); got != v {
		t.Fatalf("GET after overwrite: %q", got)
	}
}

func TestMissingKey(t *testing.T) {
	want(t, "GET", "/items/"+key(t, "never-set"), "", 404)
}

func TestDelete(t *testing.T) {
	k := key(t, "doomed")
	want(t, "PUT", "/items/"+k, "x", 204)
	want(t, "DELETE", "/items/"+k, "", 204)
	want(t, "GET", "/items/"+k, "", 404)
	want(t, "DELETE", "/items/"+k, "", 404)
}

func TestCounters(t *testing.T) {
	k := key(t, "visits")
	for i := 1; i <= 3; i++ {
		if got := want(t, "POST", "/items/"+k+"/incr", "", 200); got != fmt.Sprint(i) {
			t.Fatalf("incr %d: %q", i, got)
		}
	}
	if got := want(t, "GET", "/items/"+k, "", 200); got != "3" {
		t.Fatalf("GET of the counter: %q", got)
	}
	// Redis's own error reply, passed on.
	text := key(t, "text")
	want(t, "PUT", "/items/"+text, "not a number", 204)
	want(t, "POST", "/items/"+text+"/incr", "", 409)
}

func TestStatsCountHitsAndMisses(t *testing.T) {
	hits, misses := stats(t)
	k := key(t, "stat")
	want(t, "PUT", "/items/"+k, "v", 204)
	want(t, "GET", "/items/"+k, "", 200)
	want(t, "GET", "/items/"+k, "", 200)
	want(t, "GET", "/items/"+key(t, "absent"), "", 404)
	h, m := stats(t)
	// Other tests may run at the same time: at least ours are counted.
	if h < hits+2 || m < misses+1 {
		t.Fatalf("stats went from %d/%d to %d/%d", hits, misses, h, m)
	}
}

func TestBadRequests(t *testing.T) {
	want(t, "GET", "/items/", "", 400)
	want(t, "PATCH", "/items/"+key(t, "k"), "", 405)
	want(t, "GET", "/items/"+key(t, "k")+"/incr", "", 405)
}
