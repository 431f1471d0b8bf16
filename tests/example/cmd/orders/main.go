// Command orders takes orders: it looks products up in the catalog over HTTP,
// reserves stock there, and totals the order.
//
// Its flags are registered inside main(), not at package level: a test
// binary that was handed them directly would die with "flag provided but not
// defined" before main() ever ran.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"sync"
	"time"

	"example.com/shop/internal/config"
	"example.com/shop/internal/httpx"
	"example.com/shop/internal/money"
)

// Item is one line of an order.
type Item struct {
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

// Order is a placed (or cancelled) order.
type Order struct {
	ID         string      `json:"id"`
	Items      []Item      `json:"items"`
	Coupon     string      `json:"coupon,omitempty"`
	TotalCents money.Cents `json:"total_cents"`
	Total      string      `json:"total"`
	Status     string      `json:"status"`
	Refund     string      `json:"refund,omitempty"`
}

type product struct {
	ID    string      `json:"id"`
	Cents money.Cents `json:"price_cents"`
}

// coupons maps a coupon code to its percentage off.
var coupons = map[string]int{"SAVE10": 10, "HALF": 50}

// cancelFee is kept when an order is cancelled.
const cancelFee money.Cents = 250

type service struct {
	catalog *httpx.Client
	mu      sync.Mutex
	next    int
	orders  map[string]*Order
}

func (s *service) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Items  []Item `json:"items"`
		Coupon string `json:"coupon"`
	}
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	if len(req.Items) == 0 {
		httpx.Error(w, http.StatusBadRequest, "an order needs at least one item")
		return
	}
	percent, ok := coupons[req.Coupon]
	if req.Coupon != "" && !ok {
		httpx.Error(w, http.StatusBadRequest, "unknown coupon %q", req.Coupon)
		return
	}
	var lines []money.Cents
	for _, it := range req.Items {
		if it.Qty <= 0 {
			httpx.Error(w, http.StatusBadRequest, "qty of %s must be positive, got %d", it.ProductID, it.Qty)
			return
		}
		price, status, err := s.reserve(r.Context(), it)
		if err != nil {
			httpx.Error(w, status, "%v", err)
			return
		}
		lines = append(lines, price.Times(it.Qty))
	}
	total := money.Sum(lines...).Discount(percent)

	s.mu.Lock()
	s.next++
	o := &Order{ID: fmt.Sprintf("o-%d", s.next), Items: req.Items, Coupon: req.Coupon,
		TotalCents: total, Total: total.String(), Status: "placed"}
	s.orders[o.ID] = o
	s.mu.Unlock()
	log.Printf("orders: placed %s total %s", o.ID, o.Total)
	httpx.WriteJSON(w, http.StatusCreated, o)
}

// reserve looks the product up and reserves the quantity; on failure it
// returns the status to answer with.
func (s *service) reserve(ctx context.Context, it Item) (money.Cents, int, error) {
	var p product
	if err := s.catalog.GetJSON(ctx, "/products/"+it.ProductID, &p); err != nil {
		if httpx.IsStatus(err, http.StatusNotFound) {
			return 0, http.StatusUnprocessableEntity, fmt.Errorf("unknown product %q", it.ProductID)
		}
		return 0, http.StatusBadGateway, fmt.Errorf("catalog: %v", err)
	}
	if err := s.catalog.PostJSON(ctx, "/products/"+it.ProductID+"/reserve", map[string]int{"qty": it.Qty}, nil); err != nil {
		if httpx.IsStatus(err, http.StatusConflict) {
			return 0, http.StatusConflict, fmt.Errorf("not enough %s in stock", it.ProductID)
		}
		return 0, http.StatusBadGateway, fmt.Errorf("catalog: %v", err)
	}
	return p.Cents, 0, nil
}

func (s *service) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	o, ok := s.orders[r.PathValue("id")]
	var copy Order
	if ok {
		copy = *o
	}
	s.mu.Unlock()
	if !ok {
		httpx.Error(w, http.StatusNotFound, "no order %q", r.PathValue("id"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, copy)
}

// cancelOrder cancels a placed order and computes the refund. No
// integration test calls it: coverage must show it as never run.
func (s *service) cancelOrder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[r.PathValue("id")]
	if !ok {
		httpx.Error(w, http.StatusNotFound, "no order %q", r.PathValue("id"))
		return
	}
	if o.Status == "cancelled" {
		httpx.Error(w, http.StatusConflict, "order %s is already cancelled", o.ID)
		return
	}
	o.Status = "cancelled"
	o.Refund = o.TotalCents.Refund(cancelFee).String()
	httpx.WriteJSON(w, http.StatusOK, *o)
}

func main() {
	addr := flag.String("addr", config.Env("ORDERS_ADDR", ":8080"), "listen address (env ORDERS_ADDR)")
	catalogURL := flag.String("catalog", config.Env("CATALOG_URL", "http://catalog:8080"), "catalog base URL (env CATALOG_URL)")
	timeout := flag.Duration("catalog-timeout", config.EnvDuration("CATALOG_TIMEOUT", 5*time.Second), "timeout of one catalog call")
	flag.Parse()

	s := &service{catalog: httpx.NewClient(*catalogURL), orders: map[string]*Order{}}
	s.catalog.HTTP.Timeout = *timeout
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /orders", s.create)
	mux.HandleFunc("GET /orders/{id}", s.get)
	mux.HandleFunc("DELETE /orders/{id}", s.cancelOrder)

	ctx, stop := httpx.SignalContext()
	defer stop()
	log.Printf("orders: catalog at %s", *catalogURL)
	if err := httpx.Serve(ctx, "orders", *addr, mux); err != nil {
		log.Fatalf("orders: %v", err)
	}
	log.Printf("orders: stopped")
}
