// Command e2e is the localhost module's integration suite as a program (the
// same requests as ./e2e), for running inside the service's own container
// (tests.run_in = "service:localhost"), where its loopback listener is
// reachable.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func get(base, path string) (int, string, error) {
	resp, err := http.Get(base + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func main() {
	base := strings.TrimSuffix(os.Getenv("SERVICE_URL"), "/")
	if base == "" {
		fmt.Fprintln(os.Stderr, "e2e: SERVICE_URL is not set")
		os.Exit(2)
	}
	checks := []struct {
		path, want string
		code       int
	}{
		{"/healthz", "ok", 200},
		{"/hello?name=gopher", "gopher", 200},
		{"/hello", "", 400},
	}
	failed := false
	for _, c := range checks {
		code, body, err := get(base, c.path)
		if err != nil || code != c.code || !strings.Contains(body, c.want) {
			fmt.Fprintf(os.Stderr, "FAIL %s: %d %q %v\n", c.path, code, body, err)
			failed = true
			continue
		}
		fmt.Printf("ok %s\n", c.path)
	}
	if failed {
		os.Exit(1)
	}
}
