// Package e2e is the shop's integration tests as a `go test` suite against
// a running shop at $GATEWAY_URL (covtools sets $COVTOOLS_URL_GATEWAY too).
// Each test sets up what it needs, so any one of them runs alone: the
// suite covtools measures one test at a time (`covtools cover --per-test
// -- go test ./e2e`). Without a shop the tests skip.
package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

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

var client = &http.Client{Timeout: 10 * time.Second}

func gateway(t *testing.T) string {
	for _, v := range []string{"GATEWAY_URL", "COVTOOLS_URL_GATEWAY"} {
		if u := os.Getenv(v); u != "" {
			return strings.TrimSuffix(u, "/")
		}
	}
	t.Skip("GATEWAY_URL is not set (the URL of a running shop's gateway)")
	return ""
}

// call sends a JSON request; it decodes a 2xx answer into out (if not nil)
// and returns the status.
func call(t *testing.T, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, gateway(t)+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

func expect(t *testing.T, method, path string, in, out any, want int) {
	t.Helper()
	if got := call(t, method, path, in, out); got != want {
		t.Fatalf("%s %s: status %d, want %d", method, path, got, want)
	}
}

// inStock returns two products with at least 3 items in stock.
func inStock(t *testing.T) (product, product) {
	t.Helper()
	var products []product
	expect(t, "GET", "/api/products", nil, &products, 200)
	var found []product
	for _, p := range products {
		if p.Stock >= 3 {
			found = append(found, p)
		}
	}
	if len(found) < 2 {
		t.Fatalf("want two products with stock, got %+v", products)
	}
	return found[0], found[1]
}

func TestListProducts(t *testing.T) {
	var products []product
	expect(t, "GET", "/api/products", nil, &products, 200)
	if len(products) < 3 {
		t.Fatalf("got %d products, want at least 3", len(products))
	}
}

func TestGetProduct(t *testing.T) {
	p, _ := inStock(t)
	var got product
	expect(t, "GET", "/api/products/"+p.ID, nil, &got, 200)
	if got != p {
		t.Fatalf("got %+v, want %+v", got, p)
	}
}

func TestUnknownProductIs404(t *testing.T) {
	expect(t, "GET", "/api/products/no-such-thing", nil, nil, 404)
}

func TestPlaceOrderWithCoupon(t *testing.T) {
	p, q := inStock(t)
	var placed order
	req := map[string]any{"items": []item{{p.ID, 2}, {q.ID, 1}}, "coupon": "SAVE10"}
	expect(t, "POST", "/api/orders", req, &placed, 201)
	sum := 2*p.Cents + q.Cents
	want := sum - (sum*10+50)/100
	if placed.TotalCents != want || placed.Status != "placed" {
		t.Fatalf("order %+v, want total %d placed", placed, want)
	}
}

func TestOrderCanBeReadBack(t *testing.T) {
	p, _ := inStock(t)
	var placed, got order
	expect(t, "POST", "/api/orders", map[string]any{"items": []item{{p.ID, 1}}}, &placed, 201)
	expect(t, "GET", "/api/orders/"+placed.ID, nil, &got, 200)
	if got != placed {
		t.Fatalf("got %+v, want %+v", got, placed)
	}
}

func TestStockGoesDown(t *testing.T) {
	p, _ := inStock(t)
	expect(t, "POST", "/api/orders", map[string]any{"items": []item{{p.ID, 1}}}, nil, 201)
	var after product
	expect(t, "GET", "/api/products/"+p.ID, nil, &after, 200)
	if after.Stock != p.Stock-1 {
		t.Fatalf("stock of %s is %d, want %d", p.ID, after.Stock, p.Stock-1)
	}
}

func TestOrderOfUnknownProductIs422(t *testing.T) {
	expect(t, "POST", "/api/orders", map[string]any{"items": []item{{"nope", 1}}}, nil, 422)
}

func TestOrderBeyondStockIs409(t *testing.T) {
	p, _ := inStock(t)
	expect(t, "POST", "/api/orders", map[string]any{"items": []item{{p.ID, 100000}}}, nil, 409)
}

func TestOrderWithoutItemsIs400(t *testing.T) {
	expect(t, "POST", "/api/orders", map[string]any{"items": []item{}}, nil, 400)
}

func TestUnknownOrderIs404(t *testing.T) {
	expect(t, "GET", "/api/orders/o-999999", nil, nil, 404)
}
