package poolmgr

import (
	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// SetFunctionChanged sets a callback told the namespace and name of a
// function whose instances or cold starts changed, so that its status can be
// published (FunctionStatus); call before Run. It must not block.
func (m *Manager) SetFunctionChanged(f func(ns, name string)) { m.fnChanged = f }

// SetEnvironmentChanged sets a callback told the namespace and name of an
// environment whose pool changed (EnvironmentStatus); call before Run. It
// must not block.
func (m *Manager) SetEnvironmentChanged(f func(ns, name string)) { m.envChanged = f }

func (m *Manager) environmentPoolChanged(env *api.Environment) {
	if m.envChanged != nil {
		m.envChanged(env.Metadata.Namespace, env.Metadata.Name)
	}
}

// EnvironmentStatus returns what the poolmgr knows of an environment's pool.
func (m *Manager) EnvironmentStatus(ns, name string) api.EnvironmentStatus {
	m.mu.Lock()
	p := m.pools[client.NamespacedName{Namespace: ns, Name: name}]
	m.mu.Unlock()
	if p == nil {
		return api.EnvironmentStatus{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return api.EnvironmentStatus{ReadyInstances: len(p.idle), LastError: p.statusErr}
}

func (m *Manager) functionChanged(fn *api.Function) {
	if m.fnChanged != nil && fn != nil {
		m.fnChanged(fn.Metadata.Namespace, fn.Metadata.Name)
	}
}

// FunctionStatus returns what the poolmgr knows of a function now: its
// ready instances and its last cold start.
func (m *Manager) FunctionStatus(ns, name string) api.FunctionStatus {
	key := client.NamespacedName{Namespace: ns, Name: name}
	var st api.FunctionStatus
	m.mu.Lock()
	fi := m.funcs[key]
	m.mu.Unlock()
	if fi != nil {
		fi.mu.Lock()
		st.ReadyInstances = len(fi.ready)
		fi.mu.Unlock()
	}
	l := m.recent
	l.mu.Lock()
	defer l.mu.Unlock()
	list := l.by[key]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Outcome == "ok" {
			t := list[i].Time.UTC()
			st.LastColdStart = &t
			break
		}
	}
	if n := len(list); n > 0 && list[n-1].Outcome != "ok" {
		st.LastError = list[n-1].Error
	}
	return st
}
