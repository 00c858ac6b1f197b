package poolmgr

import (
	"time"

	"github.com/lantern-faas/lantern/platform/api"
)

// metrics records the poolmgr's events.
type metrics struct{ m *Manager }

func newMetrics(m *Manager) *metrics { return &metrics{m: m} }

func (x *metrics) poolChanged()                                            {}
func (x *metrics) coldStart(*api.Function, string, *phases, time.Duration) {}
func (x *metrics) instanceGone(*api.Function, string, time.Duration)       {}
