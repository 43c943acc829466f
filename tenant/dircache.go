package tenant

import "sync"

// maxCachedTenants bounds the routing rows a Directory keeps in memory.
const maxCachedTenants = 4096

// rowCache keeps routing rows by tenant id, so that a pool miss, which
// looks its tenant up before opening the file, is spared a query on
// routing.db: about a sixth of a miss by profile (BenchmarkMissSteps).
// Every write of a row through the Directory drops that row from the
// cache once it is committed; a lookup that raced such a write does not
// put what it read back (see keep). Only this process writes routing.db
// (the data directory's lock), so nothing else can make a row stale.
// Past maxCachedTenants rows, an arbitrary row is dropped: the cache is a
// shortcut, never the truth.
type rowCache struct {
	mu   sync.Mutex
	rows map[string]Tenant
	gen  uint64 // counts writes, so that a lookup can tell one happened
}

func newRowCache() *rowCache { return &rowCache{rows: make(map[string]Tenant)} }

// find returns the cached row of id, if any, and the write count to hand
// to keep with what a query finds instead.
func (c *rowCache) find(id string) (Tenant, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.rows[id]
	return t, c.gen, ok
}

// keep caches t, read from routing.db when the write count was gen,
// unless a write has happened since: t may be what it replaced.
func (c *rowCache) keep(t Tenant, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.rows) >= maxCachedTenants {
		for id := range c.rows {
			delete(c.rows, id)
			break
		}
	}
	c.rows[t.ID] = t
}

// drop forgets id's row after a write to it.
func (c *rowCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.rows, id)
}
