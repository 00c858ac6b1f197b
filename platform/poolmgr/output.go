package poolmgr

// Line is one line an instance printed, tagged at capture time with the
// function the instance served when it printed it.
type Line struct {
	Instance    string
	Environment string
	Namespace   string
	Function    string
	Stream      string
	Text        []byte
}

// LineSink receives captured instance output. It must not block.
type LineSink func(Line)

// outputFor returns the capture callback of an instance.
func (m *Manager) outputFor(in *inst) func(string, []byte) {
	return func(stream string, text []byte) {
		if m.sink == nil {
			return
		}
		in.mu.Lock()
		fn := in.fn
		in.mu.Unlock()
		l := Line{Instance: in.id, Environment: in.env.Metadata.Name, Namespace: in.env.Metadata.Namespace, Stream: stream, Text: text}
		if fn != nil {
			l.Namespace, l.Function = fn.Metadata.Namespace, fn.Metadata.Name
		}
		m.sink(l)
	}
}

// SetLineSink sets where instance output goes; call before Run.
func (m *Manager) SetLineSink(s LineSink) { m.sink = s }

// SetInstanceGone sets a callback for instances that have stopped, so that
// per-instance state elsewhere (log capture) can be dropped; call before Run.
func (m *Manager) SetInstanceGone(f func(id string)) { m.gone = f }
