package logstest_test

import (
	"testing"

	"github.com/lantern-faas/lantern/logs/logstest"
)

func TestMemory_Contract(t *testing.T) {
	logstest.Run(t, func(*testing.T) logstest.Store { return logstest.NewMemory() })
}
