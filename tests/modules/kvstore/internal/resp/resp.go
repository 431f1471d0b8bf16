// Package resp is a small client for Redis's protocol (RESP2): the
// commands a key-value service needs (PING, SET, GET, INCR, DEL), without
// a third-party module. A Client keeps a few idle connections and is safe
// for concurrent use by the service's handlers.
package resp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// ErrNil is returned for Redis's nil reply: GET of a missing key.
var ErrNil = errors.New("resp: nil reply")

// Error is an error reply of the server, such as
// "ERR value is not an integer or out of range". The connection stays
// usable after one.
type Error string

func (e Error) Error() string { return "redis: " + string(e) }

// maxIdle is how many connections a Client keeps for reuse.
const maxIdle = 4

// Client talks to one Redis server.
type Client struct {
	addr    string
	timeout time.Duration

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

type conn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

// Dial connects to the server at addr and checks that it answers PING, so
// that a wrong address is reported at start-up rather than at the first
// request. timeout bounds the connection and each command.
func Dial(addr string, timeout time.Duration) (*Client, error) {
	c := &Client{addr: addr, timeout: timeout}
	if err := c.Ping(); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the idle connections; commands after it fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var first error
	for _, cn := range c.idle {
		if err := cn.nc.Close(); err != nil && first == nil {
			first = err
		}
	}
	c.idle = nil
	return first
}

// Ping checks that the server answers.
func (c *Client) Ping() error {
	v, err := c.Do("PING")
	if err != nil {
		return err
	}
	if s, ok := v.(string); !ok || s != "PONG" {
		return fmt.Errorf("resp: PING answered %v", v)
	}
	return nil
}

// Set stores value under key.
func (c *Client) Set(key, value string) error {
	v, err := c.Do("SET", key, value)
	if err != nil {
		return err
	}
	if s, ok := v.(string); !ok || s != "OK" {
		return fmt.Errorf("resp: SET answered %v", v)
	}
	return nil
}

// Get returns the value of key, or ErrNil when there is none.
func (c *Client) Get(key string) (string, error) {
	v, err := c.Do("GET", key)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case nil:
		return "", ErrNil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("resp: GET answered %T", v)
	}
}

// Incr adds one to the integer at key (missing counts as 0) and returns
// the new value. A key holding anything but an integer is an Error.
func (c *Client) Incr(key string) (int64, error) {
	return c.integer("INCR", key)
}

// Del removes keys and returns how many existed.
func (c *Client) Del(keys ...string) (int64, error) {
	return c.integer("DEL", keys...)
}

func (c *Client) integer(cmd string, args ...string) (int64, error) {
	v, err := c.Do(append([]string{cmd}, args...)...)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("resp: %s answered %T", cmd, v)
	}
	return n, nil
}

// Do sends one command and returns its reply: a string (simple or bulk),
// an int64, nil (the nil reply), or a []any (an array). An error reply is
// returned as an Error.
func (c *Client) Do(args ...string) (any, error) {
	cn, err := c.get()
	if err != nil {
		return nil, err
	}
	if err := cn.nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		cn.nc.Close()
		return nil, err
	}
	v, err := cn.roundTrip(args)
	var serverErr Error
	if err != nil && !errors.As(err, &serverErr) {
		// The stream may be anywhere in a reply: never reuse it.
		cn.nc.Close()
		return nil, fmt.Errorf("resp: %s: %w", args[0], err)
	}
	c.put(cn)
	return v, err
}

func (c *Client) get() (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("resp: client closed")
	}
	if n := len(c.idle); n > 0 {
		cn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cn, nil
	}
	c.mu.Unlock()
	nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
	if err != nil {
		return nil, fmt.Errorf("resp: dial %s: %w", c.addr, err)
	}
	return &conn{nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}, nil
}

func (c *Client) put(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.idle) >= maxIdle {
		cn.nc.Close()
		return
	}
	c.idle = append(c.idle, cn)
}

// roundTrip writes a command as an array of bulk strings and reads the
// reply.
func (cn *conn) roundTrip(args []string) (any, error) {
	fmt.Fprintf(cn.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(cn.w, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := cn.w.Flush(); err != nil {
		return nil, err
	}
	return readReply(cn.r)
}

// readReply reads one reply of any type.
func readReply(r *bufio.Reader) (any, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	kind, rest := line[0], line[1:]
	switch kind {
	case '+':
		return rest, nil
	case '-':
		return nil, Error(rest)
	case ':':
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad integer reply %q", rest)
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(rest)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad bulk length %q", rest)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return nil, errors.New("bulk string not ended by CRLF")
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(rest)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad array length %q", rest)
		}
		if n == -1 {
			return nil, nil
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return items, nil
	default:
		return nil, fmt.Errorf("unknown reply type %q", kind)
	}
}

// readLine reads up to CRLF and returns the line without it.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", fmt.Errorf("reply line not ended by CRLF: %q", line)
	}
	return line[:len(line)-2], nil
}
