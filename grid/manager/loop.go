package manager

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// waitNote is what a leader's loop last waits for, shown by the API.
type waitNote struct {
	mu      sync.Mutex
	message string
}

func (n *waitNote) setMessage(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.message = msg
}

func (n *waitNote) lastMessage() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.message
}

// recheck is how soon a leaderLoop looks again when its manager does not lead etcd (an
// atomic read: a new leader takes over within it) or its step failed, however long idle.
const recheck = time.Second

// leaderLoop calls step while this manager leads etcd, until ctx ends: again after active
// while step reports work pending, otherwise after idle or as soon as wch delivers. A
// failing step (etcd failing) is noted, logged with failed and tried again after recheck,
// not 20 times a second; a manager that does not lead looks again after recheck.
func (m *Manager) leaderLoop(ctx context.Context, wch clientv3.WatchChan, active, idle time.Duration,
	note *waitNote, failed string, step func(context.Context) (bool, error)) {
	for ctx.Err() == nil {
		wait := min(idle, recheck)
		if m.isLeader() {
			wait = idle
			switch pending, err := step(ctx); {
			case err != nil:
				wait = min(idle, recheck)
				note.setMessage(err.Error())
				m.log.Warn(failed, "err", err, "retryIn", wait)
			case pending:
				wait = active
			}
		}
		select {
		case <-ctx.Done():
			return
		case _, ok := <-wch:
			if !ok {
				wch = nil // the watch ended (the client closes): the timer alone paces
			}
			wch = drain(wch) // one step reads the state all the changes so far made
		case <-time.After(wait):
		}
	}
}

// drain takes the watch responses already waiting on wch, so a burst of changes (a
// failover of many partitions) costs one step, not one per change; it returns nil when
// the watch ended.
func drain(wch clientv3.WatchChan) clientv3.WatchChan {
	for wch != nil {
		select {
		case _, ok := <-wch:
			if !ok {
				return nil
			}
		default:
			return wch
		}
	}
	return nil
}
