package poolmgr

import (
	"context"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/instance"
)

// adoptWindow is how long instances of a previous run wait to be claimed by
// their environment's pool or their function's first call; the rest are
// stopped.
const adoptWindow = time.Minute

// claimAdopted removes from the adopted instances those match selects and
// returns them.
func (m *Manager) claimAdopted(match func(a instance.Adopted) bool) []instance.Adopted {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []instance.Adopted
	rest := m.adopted[:0]
	for _, a := range m.adopted {
		if match(a) {
			out = append(out, a)
		} else {
			rest = append(rest, a)
		}
	}
	m.adopted = rest
	return out
}

// takeAdopted makes the adopted instances match selects the manager's: idle
// in env's pool, or ready for fn when fn is set.
func (m *Manager) takeAdopted(env *api.Environment, fn *api.Function, match func(a instance.Adopted) bool) []*inst {
	claimed := m.claimAdopted(match)
	out := make([]*inst, 0, len(claimed))
	for _, a := range claimed {
		now := time.Now()
		in := &inst{id: a.ID, proc: a.Process, env: env, created: now, state: api.StateIdle}
		if fn != nil {
			in.state, in.fn, in.specialized, in.lastUsed = api.StateReady, fn, now, now
		}
		m.mu.Lock()
		m.instances[in.id] = in
		m.mu.Unlock()
		go m.watchExit(in)
		out = append(out, in)
		m.logger.Info("adopted an instance of the previous run", "instance", in.id, "environment", env.Metadata.Name, "function", fnName(fn))
	}
	return out
}

func fnName(fn *api.Function) string {
	if fn == nil {
		return ""
	}
	return fn.Metadata.Name
}

// adoptIdle returns the generic instances of the previous run started for
// env as it is now.
func (m *Manager) adoptIdle(env *api.Environment) []*inst {
	return m.takeAdopted(env, nil, func(a instance.Adopted) bool {
		return a.FunctionName == "" && a.EnvNamespace == env.Metadata.Namespace && a.EnvName == env.Metadata.Name &&
			a.EnvVersion == instance.Version(&env.Metadata)
	})
}

// adoptReady returns the instances of the previous run specialized for fn as
// it is now.
func (m *Manager) adoptReady(fn *api.Function) []*inst {
	m.mu.Lock()
	none := len(m.adopted) == 0
	m.mu.Unlock()
	if none { // the usual case: nothing left of a previous run
		return nil
	}
	env := m.objs.Environment(fn.Metadata.Namespace, fn.Spec.Environment)
	if env == nil {
		return nil
	}
	return m.takeAdopted(env, fn, func(a instance.Adopted) bool {
		return a.EnvNamespace == fn.Metadata.Namespace && a.FunctionName == fn.Metadata.Name && a.FunctionVersion == instance.Version(&fn.Metadata)
	})
}

// dropUnclaimed stops the instances of the previous run nobody claimed
// within adoptWindow.
func (m *Manager) dropUnclaimed(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(adoptWindow):
	}
	m.mu.Lock()
	left := m.adopted
	m.adopted = nil
	m.mu.Unlock()
	for _, a := range left {
		m.logger.Info("stopping an unclaimed instance of the previous run", "instance", a.ID, "environment", a.EnvName, "function", a.FunctionName)
		go a.Process.Stop(m.cfg.StopGrace)
	}
}

// markSpecialized records fn on the instance, for the next run's adoption,
// and since when the instance serves it.
func (m *Manager) markSpecialized(in *inst, fn *api.Function, since time.Time) {
	mk, ok := in.proc.(instance.Marker)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
		defer cancel()
		if err := mk.MarkSpecialized(ctx, fn, since); err != nil {
			m.logger.Warn("mark the instance's function", "instance", in.id, "function", fn.Metadata.Name, "err", err)
		}
	}()
}

// funcInstancesFor returns the specialized instances of a function,
// making its entry on first use.
func (m *Manager) funcInstancesFor(key client.NamespacedName) *funcInstances {
	m.mu.Lock()
	defer m.mu.Unlock()
	fi := m.funcs[key]
	if fi == nil {
		fi = &funcInstances{}
		m.funcs[key] = fi
	}
	return fi
}

// adoptFunction makes the instances of the previous run specialized for fn
// (as it is now) ready instances of fn, subject to idle reaping from now.
func (m *Manager) adoptFunction(fn *api.Function) {
	adopted := m.adoptReady(fn)
	if len(adopted) == 0 {
		return
	}
	fi := m.funcInstancesFor(client.NamespacedName{Namespace: fn.Metadata.Namespace, Name: fn.Metadata.Name})
	fi.mu.Lock()
	fi.ready = append(fi.ready, adopted...)
	fi.mu.Unlock()
	m.functionChanged(fn)
}

// dropAdopted stops the instances of the previous run that match: their
// function or environment is gone.
func (m *Manager) dropAdopted(match func(instance.Adopted) bool) {
	for _, a := range m.claimAdopted(match) {
		go a.Process.Stop(m.cfg.StopGrace)
	}
}
