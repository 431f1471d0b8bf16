// Command shoptest is the shop's integration-test suite: it drives the
// services through the gateway's public API only, prints one line per check
// and exits 1 when any check fails (2 when the shop never became ready).
//
//	shoptest -gateway http://127.0.0.1:8080
//	shoptest -skip 'beyond stock|unknown order'   (leave checks out)
//
// Under `covtools cover --per-test` it marks each check as a test at
// $COVTOOLS_TESTS_URL (POST /test/start and /test/end), so that the run
// measures what each check covered in every service.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"time"
)

var (
	gateway = flag.String("gateway", envOr("GATEWAY_URL", "http://gateway:8080"), "gateway base URL (env GATEWAY_URL)")
	wait    = flag.Duration("wait", 30*time.Second, "how long to wait for the shop to become ready")
	skip    = flag.String("skip", "", "skip the checks whose name matches this regular expression")
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

var client = &http.Client{Timeout: 10 * time.Second}

// call sends a JSON request and decodes a JSON answer into out (if not nil).
func call(method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, *gateway+path, body)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %v in %q", method, path, err, raw)
		}
	}
	return resp.StatusCode, nil
}

func expect(method, path string, in, out any, want int) error {
	code, err := call(method, path, in, out)
	if err != nil {
		return err
	}
	if code != want {
		return fmt.Errorf("%s %s: status %d, want %d", method, path, code, want)
	}
	return nil
}

type product struct {
	ID    string `json:"id"`
	Cents int64  `json:"price_cents"`
	Price string `json:"price"`
	Stock int    `json:"stock"`
}

type order struct {
	ID         string `json:"id"`
	TotalCents int64  `json:"total_cents"`
	Total      string `json:"total"`
	Status     string `json:"status"`
}

type item struct {
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

// mark tells covtools' per-test coordinator, when there is one, that a
// check starts or ends (result: passed, failed or skipped).
func mark(what, name, result string) {
	base := os.Getenv("COVTOOLS_TESTS_URL")
	if base == "" {
		return
	}
	q := url.Values{"name": {name}}
	if result != "" {
		q.Set("result", result)
	}
	resp, err := client.Post(base+"/test/"+what+"?"+q.Encode(), "text/plain", nil)
	if err != nil {
		log.Printf("shoptest: marking %s of %q: %v", what, name, err)
		return
	}
	resp.Body.Close()
}

func waitReady() error {
	deadline := time.Now().Add(*wait)
	for {
		code, err := call("GET", "/readyz", nil, nil)
		if err == nil && code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/readyz not ready after %s (last: status %d, %v)", *gateway, *wait, code, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	var skipRE *regexp.Regexp
	if *skip != "" {
		re, err := regexp.Compile(*skip)
		if err != nil {
			log.Printf("shoptest: -skip: %v", err)
			os.Exit(2)
		}
		skipRE = re
	}
	if err := waitReady(); err != nil {
		log.Printf("shoptest: %v", err)
		os.Exit(2)
	}

	var products []product
	var placed order
	checks := []struct {
		name string
		run  func() error
	}{
		{"list products", func() error {
			if err := expect("GET", "/api/products", nil, &products, 200); err != nil {
				return err
			}
			if len(products) < 3 {
				return fmt.Errorf("got %d products, want at least 3", len(products))
			}
			return nil
		}},
		{"get one product", func() error {
			var p product
			if err := expect("GET", "/api/products/"+products[0].ID, nil, &p, 200); err != nil {
				return err
			}
			if p != products[0] {
				return fmt.Errorf("got %+v, want %+v", p, products[0])
			}
			return nil
		}},
		{"unknown product is 404", func() error {
			return expect("GET", "/api/products/no-such-thing", nil, nil, 404)
		}},
		{"place an order with a coupon", func() error {
			req := map[string]any{"items": []item{{products[0].ID, 2}, {products[1].ID, 1}}, "coupon": "SAVE10"}
			if err := expect("POST", "/api/orders", req, &placed, 201); err != nil {
				return err
			}
			sum := 2*products[0].Cents + products[1].Cents
			want := sum - (sum*10+50)/100
			if placed.TotalCents != want || placed.Status != "placed" {
				return fmt.Errorf("order %+v, want total %d placed", placed, want)
			}
			return nil
		}},
		{"order can be read back", func() error {
			var o order
			if err := expect("GET", "/api/orders/"+placed.ID, nil, &o, 200); err != nil {
				return err
			}
			if o != placed {
				return fmt.Errorf("got %+v, want %+v", o, placed)
			}
			return nil
		}},
		{"stock went down", func() error {
			var p product
			if err := expect("GET", "/api/products/"+products[0].ID, nil, &p, 200); err != nil {
				return err
			}
			if p.Stock != products[0].Stock-2 {
				return fmt.Errorf("stock of %s is %d, want %d", p.ID, p.Stock, products[0].Stock-2)
			}
			return nil
		}},
		{"order of an unknown product is 422", func() error {
			return expect("POST", "/api/orders", map[string]any{"items": []item{{"nope", 1}}}, nil, 422)
		}},
		{"order beyond stock is 409", func() error {
			return expect("POST", "/api/orders", map[string]any{"items": []item{{products[0].ID, 100000}}}, nil, 409)
		}},
		{"order without items is 400", func() error {
			return expect("POST", "/api/orders", map[string]any{"items": []item{}}, nil, 400)
		}},
		{"unknown order is 404", func() error {
			return expect("GET", "/api/orders/o-999999", nil, nil, 404)
		}},
	}
	failed, skipped := 0, 0
	for _, c := range checks {
		if skipRE != nil && skipRE.MatchString(c.name) {
			skipped++
			log.Printf("skip %s", c.name)
			continue
		}
		mark("start", c.name, "")
		if err := c.run(); err != nil {
			failed++
			mark("end", c.name, "failed")
			log.Printf("FAIL %s: %v", c.name, err)
			continue
		}
		mark("end", c.name, "passed")
		log.Printf("ok   %s", c.name)
	}
	ran := len(checks) - skipped
	if failed > 0 {
		log.Printf("shoptest: %d of %d checks failed", failed, ran)
		os.Exit(1)
	}
	if skipped > 0 {
		log.Printf("shoptest: all %d checks passed (%d skipped)", ran, skipped)
		return
	}
	log.Printf("shoptest: all %d checks passed", len(checks))
}
