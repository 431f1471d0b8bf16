// The integration tests of notifyd: a `go test` client suite against a
// running service at $NOTIFY_URL. TestSmoke* and TestAPI* are run as separate
// phases by covtools.toml.
package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

func base(t *testing.T) string {
	u := os.Getenv("NOTIFY_URL")
	if u == "" {
		// What covtools sets for every service.
		u = os.Getenv("COVTOOLS_URL_NOTIFYD")
	}
	if u == "" {
		t.Skip("NOTIFY_URL is not set (the URL of a running notifyd)")
	}
	return strings.TrimSuffix(u, "/")
}

func post(t *testing.T, body string) *http.Response {
	resp, err := http.Post(base(t)+"/notify", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestSmokeHealthz(t *testing.T) {
	resp, err := http.Get(base(t) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}
}

func TestAPIDeliversInOrder(t *testing.T) {
	for _, text := range []string{"one", "two"} {
		if r := post(t, `{"to":"ann","text":"`+text+`"}`); r.StatusCode != http.StatusAccepted {
			t.Fatalf("notify: %s", r.Status)
		}
	}
	resp, err := http.Get(base(t) + "/inbox/ann")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []struct{ To, Text string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Text != "one" || got[1].Text != "two" {
		t.Fatalf("inbox: %+v", got)
	}
}

func TestAPIRejectsBadMessages(t *testing.T) {
	if r := post(t, `{"to":"","text":"x"}`); r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("empty recipient: %s", r.Status)
	}
	if r := post(t, `not json`); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad JSON: %s", r.Status)
	}
}
