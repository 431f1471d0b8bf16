// Package e2e is the module's own integration suite: `go test ./e2e`
// against the service at $SERVICE_URL.
package e2e

import (
	"net/http"
	"os"
	"testing"
)

func TestHit(t *testing.T) {
	u := os.Getenv("SERVICE_URL")
	if u == "" {
		t.Fatal("SERVICE_URL is not set")
	}
	resp, err := http.Get(u + "/hit")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/hit: %d", resp.StatusCode)
	}
}
