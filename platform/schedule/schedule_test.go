package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		expr    string
		want    []time.Time
		wantErr string
	}{
		{"SixFields", "*/5 * * * * *", []time.Time{base.Add(5 * time.Second), base.Add(10 * time.Second)}, ""},
		{"FiveFields", "*/15 * * * *", []time.Time{base.Add(15 * time.Minute), base.Add(30 * time.Minute)}, ""},
		{"Every", "@every 10s", []time.Time{base.Add(10 * time.Second), base.Add(20 * time.Second)}, ""},
		{"Hourly", "@hourly", []time.Time{base.Add(time.Hour), base.Add(2 * time.Hour)}, ""},
		{"Spaces", "  @hourly ", []time.Time{base.Add(time.Hour), base.Add(2 * time.Hour)}, ""},
		{"TooFewFields", "* *", nil, "expected 5 to 6 fields"},
		{"BadField", "*/5 * * * * * *", nil, "expected 5 to 6 fields"},
		{"BadRange", "61 * * * *", nil, "end of range (61) above maximum (59)"},
		{"BadDescriptor", "@sometimes", nil, "unrecognized descriptor"},
		{"Empty", "", nil, "empty spec string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.expr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tc.expr, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.expr, err)
			}
			got := NextN(s, base, 2)
			if len(got) != 2 || !got[0].Equal(tc.want[0]) || !got[1].Equal(tc.want[1]) {
				t.Fatalf("NextN(%q) = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}
}

func TestNext_StrictlyAfter(t *testing.T) {
	s, err := Parse("* * * * * *")
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Date(2026, 1, 1, 10, 0, 7, 0, time.UTC)
	if got := s.Next(tick); !got.Equal(tick.Add(time.Second)) {
		t.Fatalf("Next(%v) = %v, want the tick after it", tick, got)
	}
}
