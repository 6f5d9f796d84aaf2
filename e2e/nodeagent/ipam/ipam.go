// Package ipam hands out the test node agent's pod addresses: node i owns 127.1.<i>.0/24, the
// node itself is .1 and pods get .2 to .254, reused once the pod is gone. All of 127/8 is
// routable on Linux loopback, so no interface needs configuring.
//
// It has no dependencies beyond the standard library.
package ipam

import (
	"fmt"
	"sync"
)

// NodeIP is the address of node index i.
func NodeIP(i int) string { return fmt.Sprintf("127.1.%d.1", i) }

// Pool is one node's address pool. It is safe for concurrent use.
type Pool struct {
	node  int
	mu    sync.Mutex
	owner [255]string // index = last octet; owner key (pod UID) or ""
	next  int
}

// NewPool returns the pool of node index i (0..255).
func NewPool(i int) (*Pool, error) {
	if i < 0 || i > 255 {
		return nil, fmt.Errorf("node index %d out of range 0..255", i)
	}
	return &Pool{node: i, next: 2}, nil
}

// Allocate returns the address held by key, or a free one. It searches round-robin from the
// last allocation so a just-released address is not handed out again at once.
func (p *Pool) Allocate(key string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := 2; n <= 254; n++ {
		if p.owner[n] == key {
			return p.ip(n), nil
		}
	}
	for i := 0; i < 253; i++ {
		n := 2 + (p.next-2+i)%253
		if p.owner[n] == "" {
			p.owner[n] = key
			p.next = n + 1
			return p.ip(n), nil
		}
	}
	return "", fmt.Errorf("node %d: all 253 pod addresses in 127.1.%d.0/24 are in use", p.node, p.node)
}

// Release frees the address held by key, if any.
func (p *Pool) Release(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := 2; n <= 254; n++ {
		if p.owner[n] == key {
			p.owner[n] = ""
		}
	}
}

func (p *Pool) ip(n int) string { return fmt.Sprintf("127.1.%d.%d", p.node, n) }
