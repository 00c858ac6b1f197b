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
	// ready is signalled (non-blocking) when an instance becomes idle.
	ready chan struct{}
	// lastErr is why the last start failed, for callers that wait.
	lastErr error
	ctx     context.Context
	cancel  context.CancelFunc
}

func newPool(m *Manager, env *api.Environment) *pool {
	ctx, cancel := context.WithCancel(m.ctx)
	p := &pool{m: m, env: env, ready: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
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
		p.lastErr = err
		p.mu.Unlock()
		p.signal()
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
	p.lastErr = nil
	p.idle = append(p.idle, in)
	p.mu.Unlock()
	p.signal()
}

func (p *pool) signal() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// acquire takes an idle instance, waiting for one if the pool is empty.
func (p *pool) acquire(ctx context.Context) (*inst, error) {
	for {
		p.mu.Lock()
		for len(p.idle) > 0 {
			in := p.idle[len(p.idle)-1]
			p.idle = p.idle[:len(p.idle)-1]
			if in.alive() {
				p.mu.Unlock()
				p.refill()
				return in, nil
			}
		}
		// Nothing idle: make sure something is starting, even with poolsize 0.
		if p.starting == 0 && !p.closed {
			p.starting++
			go p.startOne()
		}
		lastErr := p.lastErr
		p.mu.Unlock()
		select {
		case <-p.ready:
			p.mu.Lock()
			startErr := p.lastErr
			empty := len(p.idle) == 0
			p.mu.Unlock()
			if empty && startErr != nil && startErr != lastErr {
				return nil, &startError{env: p.env.Metadata.Name, err: startErr}
			}
			p.signal() // pass the wake-up on to other waiters
		case <-ctx.Done():
			return nil, ctx.Err()
		}
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
	p.refill()
}

// close stops the pool and its idle instances.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
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
