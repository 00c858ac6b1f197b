package poolmgr

import (
	"context"
	"sync"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/instance"
)

// pool keeps up to env.Spec.Poolsize generic instances of one environment
// started and idle.
type pool struct {
	m   *Manager
	env *api.Environment

	mu       sync.Mutex
	idle     []*inst
	starting int
	closed   bool
	// changed is closed, and replaced, whenever an instance becomes idle, a
	// start fails or the pool closes: a broadcast to every waiter.
	changed chan struct{}
	// lastErr is why the last start failed; errGen counts failures, so a
	// waiter learns of the ones that happened while it waited.
	lastErr error
	errGen  int
	// statusErr is the last start's error for the status, "" after a start
	// that worked.
	statusErr string
	ctx       context.Context
	cancel    context.CancelFunc
}

func newPool(m *Manager, env *api.Environment, adopted []*inst) *pool {
	ctx, cancel := context.WithCancel(m.ctx)
	p := &pool{m: m, env: env, changed: make(chan struct{}), ctx: ctx, cancel: cancel, idle: adopted}
	p.refill()
	return p
}

// refill starts instances until idle+starting reaches the pool size.
func (p *pool) refill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.closed && len(p.idle)+p.starting < p.env.Spec.Poolsize {
		p.starting++
		go p.startOne()
	}
}

func (p *pool) startOne() {
	in, err := p.m.start(p.ctx, p.env)
	p.mu.Lock()
	p.starting--
	if err != nil {
		p.lastErr, p.errGen, p.statusErr = err, p.errGen+1, err.Error()
		p.broadcastLocked()
		p.mu.Unlock()
		p.m.environmentPoolChanged(p.env)
		if p.ctx.Err() == nil {
			p.m.logger.Warn("start generic instance", "environment", p.env.Metadata.Name, "namespace", p.env.Metadata.Namespace, "err", err)
			// Back off before the next try so a broken command does not spin.
			time.AfterFunc(time.Second, p.refill)
		}
		return
	}
	if p.closed {
		p.mu.Unlock()
		p.m.remove(in, api.ReasonDeleted)
		return
	}
	p.idle = append(p.idle, in)
	p.statusErr = ""
	p.broadcastLocked()
	p.mu.Unlock()
	p.m.environmentPoolChanged(p.env)
}

func (p *pool) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// acquire takes an idle instance, waiting for one if the pool is empty. It
// fails when a start fails while it waits (a broken runtime command) or the
// pool closes.
func (p *pool) acquire(ctx context.Context) (*inst, error) {
	p.mu.Lock()
	gen := p.errGen
	for {
		for len(p.idle) > 0 {
			in := p.idle[len(p.idle)-1]
			p.idle = p.idle[:len(p.idle)-1]
			if in.alive() {
				p.mu.Unlock()
				p.m.environmentPoolChanged(p.env)
				p.refill()
				return in, nil
			}
		}
		switch {
		case p.closed:
			p.mu.Unlock()
			return nil, &startError{env: p.env.Metadata.Name, err: errPoolClosed}
		case p.errGen != gen:
			err := p.lastErr
			p.mu.Unlock()
			return nil, &startError{env: p.env.Metadata.Name, err: err}
		}
		// Nothing idle: make sure something is starting, even with poolsize 0.
		if p.starting == 0 {
			p.starting++
			go p.startOne()
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		p.mu.Lock()
	}
}

// drop forgets an idle instance that exited.
func (p *pool) drop(in *inst) {
	p.mu.Lock()
	for i, x := range p.idle {
		if x == in {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	p.m.environmentPoolChanged(p.env)
	p.refill()
}

// close stops the pool and its idle instances.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.broadcastLocked()
	p.mu.Unlock()
	p.cancel()
	for _, in := range idle {
		p.m.remove(in, api.ReasonDeleted)
	}
}

func (p *pool) counts() (idle, starting int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle), p.starting
}

// inst is one instance the poolmgr owns.
type inst struct {
	id      string
	proc    instance.Process
	env     *api.Environment
	created time.Time

	mu          sync.Mutex
	state       string
	fn          *api.Function // set once specialized
	specialized time.Time
	coldStart   time.Duration
	lastUsed    time.Time
	inFlight    int
	reportedAt  time.Time
	retiredAt   time.Time
	reason      string
}

func (in *inst) alive() bool {
	select {
	case <-in.proc.Done():
		return false
	default:
		return true
	}
}

func (in *inst) view() api.Instance {
	in.mu.Lock()
	defer in.mu.Unlock()
	v := api.Instance{
		ID: in.id, Address: in.proc.Address(), Environment: in.env.Metadata.Name,
		State: in.state, PID: in.proc.PID(), CreatedAt: in.created,
		SpecializedAt: in.specialized, ColdStart: in.coldStart,
	}
	if in.fn != nil {
		v.Namespace, v.Function, v.ResourceVersion = in.fn.Metadata.Namespace, in.fn.Metadata.Name, in.fn.Metadata.ResourceVersion
	} else {
		v.Namespace = in.env.Metadata.Namespace
	}
	return v
}

type startError struct {
	env string
	err error
}

func (e *startError) Error() string {
	return "environment " + e.env + ": cannot start an instance: " + e.err.Error()
}

func (e *startError) Unwrap() error { return e.err }
