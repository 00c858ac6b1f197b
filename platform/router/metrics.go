package router

import "github.com/lantern-faas/lantern/platform/api"

// metrics records the router's events.
type metrics struct{}

func newMetrics() *metrics { return &metrics{} }

func (m *metrics) cacheMiss() {}

// recorder measures one request.
type recorder struct{}

func (m *metrics) start(*api.Function) recorder { return recorder{} }

func (recorder) done() {}
