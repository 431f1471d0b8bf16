package main

import (
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"

	"example.com/kvstore/internal/resp"
)

// Keys in Redis: the items under "item:", the request counters under
// "stats:".
const (
	itemPrefix = "item:"
	hitsKey    = "stats:hits"
	missesKey  = "stats:misses"
)

// maxValue bounds a stored value.
const maxValue = 1 << 20

type store struct {
	db *resp.Client
}

// routes is the service's API:
//
//	GET    /healthz           200 when Redis answers PING
//	PUT    /items/{key}       stores the body
//	GET    /items/{key}       the stored body, 404 when missing
//	DELETE /items/{key}       204, 404 when missing
//	POST   /items/{key}/incr  adds one to an integer item, 409 if not one
//	GET    /stats             {"hits": N, "misses": M} of GET /items
func routes(db *resp.Client) http.Handler {
	s := &store{db: db}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/items/", s.items)
	mux.HandleFunc("/stats", s.stats)
	return mux
}

func (s *store) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.db.Ping(); err != nil {
		http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// items dispatches /items/{key} and /items/{key}/incr by method (the
// module's go line predates method patterns in ServeMux).
func (s *store) items(w http.ResponseWriter, r *http.Request) {
	key, incr := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/items/"), "/incr")
	if key == "" || strings.Contains(key, "/") {
		http.Error(w, "want /items/{key} or /items/{key}/incr", http.StatusBadRequest)
		return
	}
	if incr {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		s.incr(w, key)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.get(w, key)
	case http.MethodPut:
		s.put(w, r, key)
	case http.MethodDelete:
		s.delete(w, key)
	default:
		methodNotAllowed(w, "GET, PUT, DELETE")
	}
}

func (s *store) get(w http.ResponseWriter, key string) {
	v, err := s.db.Get(itemPrefix + key)
	if errors.Is(err, resp.ErrNil) {
		s.count(missesKey)
		http.Error(w, "no such item", http.StatusNotFound)
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	s.count(hitsKey)
	io.WriteString(w, v)
}

func (s *store) put(w http.ResponseWriter, r *http.Request, key string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxValue+1))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxValue {
		http.Error(w, "value too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := s.db.Set(itemPrefix+key, string(body)); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *store) delete(w http.ResponseWriter, key string) {
	n, err := s.db.Del(itemPrefix + key)
	if err != nil {
		fail(w, err)
		return
	}
	if n == 0 {
		http.Error(w, "no such item", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *store) incr(w http.ResponseWriter, key string) {
	n, err := s.db.Incr(itemPrefix + key)
	var redisErr resp.Error
	if errors.As(err, &redisErr) {
		// Redis refuses to add to a value that is not an integer.
		http.Error(w, redisErr.Error(), http.StatusConflict)
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	io.WriteString(w, strconv.FormatInt(n, 10))
}

func (s *store) stats(w http.ResponseWriter, r *http.Request) {
	out := map[string]int64{}
	for name, key := range map[string]string{"hits": hitsKey, "misses": missesKey} {
		v, err := s.db.Get(key)
		if errors.Is(err, resp.ErrNil) {
			v = "0"
		} else if err != nil {
			fail(w, err)
			return
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fail(w, err)
			return
		}
		out[name] = n
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// count adds one to a statistics counter; a failure is logged, not
// answered: the request itself succeeded.
func (s *store) count(key string) {
	if _, err := s.db.Incr(key); err != nil {
		log.Printf("counting %s: %v", key, err)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// fail answers a Redis failure: the service cannot do its job without it.
func fail(w http.ResponseWriter, err error) {
	log.Printf("redis: %v", err)
	http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
}
