package e2e

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// base is the service under test: $SERVICE_URL (covtools sets it
// from {url:NAME}).
func base(t *testing.T) string {
	u := os.Getenv("SERVICE_URL")
	if u == "" {
		t.Fatal("SERVICE_URL is not set")
	}
	return strings.TrimSuffix(u, "/")
}

func get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(base(t) + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func TestHealthz(t *testing.T) {
	if code, _ := get(t, "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
}

func TestHello(t *testing.T) {
	code, body := get(t, "/hello?name=gopher")
	if code != 200 || !strings.Contains(body, "gopher") {
		t.Fatalf("/hello: %d %q", code, body)
	}
	if code, _ := get(t, "/hello"); code != 400 {
		t.Fatalf("/hello without a name: %d, want 400", code)
	}
}
