package datadir

// A single server that replicates holds the prefix's writer lease (see
// replica.Replicator.TakeWriter), taken in Open before routing.db can be
// restored from the bucket. Delete-user with --replicate-to takes it too:
// it writes to the same prefix, so beside a live server elsewhere it is
// refused rather than racing it. When another server takes the lease over,
// replication has already stopped reaching the bucket; the watcher then
// fences the pool (every request for a tenant fails from then on) and
// closes Gone, so that serve exits saying why.

// standalone is the writer lease's watch on a single server.
type standalone struct {
	// stop ends the watcher; done is closed when it has ended.
	stop, done chan struct{}
	// gone is closed when the lease was lost (goneErr says why).
	gone    chan struct{}
	goneErr error
}

// watchWriter fences the pool and closes Gone as soon as the writer lease
// is lost.
func (d *DataDir) watchWriter() {
	lost := d.repl.WriterLost()
	if lost == nil {
		return
	}
	s := &standalone{stop: make(chan struct{}), done: make(chan struct{}), gone: make(chan struct{})}
	d.sa = s
	go func() {
		defer close(s.done)
		select {
		case <-lost:
		case <-s.stop:
			return
		}
		err := d.repl.WriterErr()
		d.log.Error("this server stops serving: another server took over its replica prefix", "err", err)
		d.pool.Fence(err)
		s.goneErr = err
		close(s.gone)
	}()
}

// closeFirst stops the watcher, before the pool closes.
func (s *standalone) closeFirst() {
	if s.stop != nil {
		close(s.stop)
		<-s.done
		s.stop = nil
	}
}
