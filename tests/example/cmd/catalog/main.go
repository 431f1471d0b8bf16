// Command catalog serves the product list and keeps stock.
//
// Its flags are registered at package level, and it serves on
// http.DefaultServeMux with a catch-all "/" (an index page): a coverage
// harness that registered its killswitch on the default mux would panic with
// "multiple registrations".
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"sort"
	"sync"

	"example.com/shop/internal/config"
	"example.com/shop/internal/httpx"
	"example.com/shop/internal/money"
)

var (
	addr = flag.String("addr", config.Env("CATALOG_ADDR", ":8080"), "listen address (env CATALOG_ADDR)")
	seed = flag.String("seed", config.Env("CATALOG_SEED", "demo"), "initial products: demo or none (env CATALOG_SEED)")
)

// Product is one catalog entry.
type Product struct {
	ID    string      `json:"id"`
	Name  string      `json:"name"`
	Cents money.Cents `json:"price_cents"`
	Price string      `json:"price"`
	Stock int         `json:"stock"`
}

type store struct {
	mu       sync.Mutex
	products map[string]*Product
}

func newStore(seed string) (*store, error) {
	s := &store{products: map[string]*Product{}}
	switch seed {
	case "none":
	case "demo":
		for _, p := range []struct {
			id, name, price string
			stock           int
		}{
			{"p1", "Espresso beans 1kg", "24.90", 40},
			{"p2", "Milk jug", "12.5", 15},
			{"p3", "Grinder", "129", 5},
			{"p4", "Tamper", "19.99", 0},
		} {
			cents, err := money.Parse(p.price)
			if err != nil {
				return nil, err
			}
			s.products[p.id] = &Product{ID: p.id, Name: p.name, Cents: cents, Price: cents.String(), Stock: p.stock}
		}
	default:
		return nil, fmt.Errorf("unknown seed %q (want demo or none)", seed)
	}
	return s, nil
}

func (s *store) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := make([]Product, 0, len(s.products))
	for _, p := range s.products {
		out = append(out, *p)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (s *store) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.products[r.PathValue("id")]
	var copy Product
	if ok {
		copy = *p
	}
	s.mu.Unlock()
	if !ok {
		httpx.Error(w, http.StatusNotFound, "no product %q", r.PathValue("id"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, copy)
}

// reserve takes qty items out of stock, all or nothing.
func (s *store) reserve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Qty int `json:"qty"`
	}
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	if req.Qty <= 0 {
		httpx.Error(w, http.StatusBadRequest, "qty must be positive, got %d", req.Qty)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.products[r.PathValue("id")]
	if !ok {
		httpx.Error(w, http.StatusNotFound, "no product %q", r.PathValue("id"))
		return
	}
	if p.Stock < req.Qty {
		httpx.Error(w, http.StatusConflict, "only %d of %s in stock", p.Stock, p.ID)
		return
	}
	p.Stock -= req.Qty
	httpx.WriteJSON(w, http.StatusOK, *p)
}

func index(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		httpx.Error(w, http.StatusNotFound, "no route %s", r.URL.Path)
		return
	}
	fmt.Fprintln(w, "catalog: GET /products, GET /products/{id}, POST /products/{id}/reserve")
}

func main() {
	flag.Parse()
	s, err := newStore(*seed)
	if err != nil {
		log.Fatalf("catalog: %v", err)
	}
	http.HandleFunc("/", index)
	http.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	http.HandleFunc("GET /products", s.list)
	http.HandleFunc("GET /products/{id}", s.get)
	http.HandleFunc("POST /products/{id}/reserve", s.reserve)

	ctx, stop := httpx.SignalContext()
	defer stop()
	if err := httpx.Serve(ctx, "catalog", *addr, http.DefaultServeMux); err != nil {
		log.Fatalf("catalog: %v", err)
	}
	log.Printf("catalog: stopped")
}
