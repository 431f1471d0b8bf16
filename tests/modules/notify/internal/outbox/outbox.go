// Package outbox holds notifications until a recipient reads them.
package outbox

import (
	"errors"
	"strings"
	"sync"
)

// Message is one notification.
type Message struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

// ErrInvalid is returned for a message without recipient or text.
var ErrInvalid = errors.New("a message needs to and text")

// Outbox is a set of per-recipient queues, safe for concurrent use.
type Outbox struct {
	mu     sync.Mutex
	queues map[string][]Message
	limit  int
}

// New returns an outbox keeping at most limit messages per recipient.
func New(limit int) *Outbox {
	return &Outbox{queues: map[string][]Message{}, limit: limit}
}

// Push queues a message; the oldest is dropped when the queue is full.
func (o *Outbox) Push(m Message) (dropped bool, err error) {
	m.To = strings.TrimSpace(m.To)
	if m.To == "" || strings.TrimSpace(m.Text) == "" {
		return false, ErrInvalid
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	q := append(o.queues[m.To], m)
	if len(q) > o.limit {
		q = q[1:]
		dropped = true
	}
	o.queues[m.To] = q
	return dropped, nil
}

// Take returns and removes the messages queued for a recipient.
func (o *Outbox) Take(to string) []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queues[to]
	delete(o.queues, to)
	return q
}

// Pending counts the messages not yet taken.
func (o *Outbox) Pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, q := range o.queues {
		n += len(q)
	}
	return n
}
