package tenant

import "fmt"

// A fenced pool serves again once Unfence is called; a cluster node does
// that when it has rejoined under a new lease. Nothing the pool opened
// before the fence may still be open by then, or two nodes could hold one
// tenant: Drained says when that is so.

// Drained reports whether a fenced pool has closed every handle it had
// and has no open, acquire or provision of a tenant left from before the
// fence: false while the pool is not fenced.
func (p *Pool) Drained() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.drainedLocked()
}

func (p *Pool) drainedLocked() bool {
	return p.fenced != nil && len(p.entries) == 0 && len(p.closing) == 0 &&
		len(p.fencedOut) == 0 && p.provisions == 0
}

// Unfence makes a fenced and drained pool serve again. A pool that is not
// drained stays fenced (and says why); one that is not fenced is left as
// it is.
func (p *Pool) Unfence() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fenced == nil {
		return nil
	}
	if !p.drainedLocked() {
		return fmt.Errorf("tenant: unfence: handles opened before the fence are still open")
	}
	p.fenced = nil
	p.fencedNow.Store(nil)
	return nil
}

// beginProvision counts a provision in flight, unless the pool is closed
// or fenced.
func (p *Pool) beginProvision() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.fenced != nil {
		return p.fenced
	}
	p.provisions++
	p.ops.Add(1)
	return nil
}

// endProvision ends what beginProvision counted.
func (p *Pool) endProvision() {
	p.mu.Lock()
	p.provisions--
	p.mu.Unlock()
	p.ops.Done()
}
