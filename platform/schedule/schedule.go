package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts 5 or 6 fields (seconds first, optional) and descriptors
// such as @every 10s and @hourly.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule says when a timer fires.
type Schedule interface {
	// Next returns the first tick strictly after t.
	Next(t time.Time) time.Time
}

// Parse parses a cron expression. Times are in UTC unless the expression
// starts with CRON_TZ= or TZ=.
func Parse(expr string) (Schedule, error) {
	expr = strings.TrimSpace(expr)
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid cron expression: %w", expr, err)
	}
	return utc{s}, nil
}

type utc struct{ s cron.Schedule }

func (u utc) Next(t time.Time) time.Time { return u.s.Next(t.UTC()) }

// NextN returns the next n ticks after t.
func NextN(s Schedule, t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for range n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}
