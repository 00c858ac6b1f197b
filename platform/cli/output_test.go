package cli

import (
	"testing"
	"time"
)

func TestAge(t *testing.T) {
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ago  time.Duration
		want string
	}{
		{"Seconds", 5 * time.Second, "5s"},
		{"Minutes", 3*time.Minute + 59*time.Second, "3m"},
		{"Hours", 2*time.Hour + 30*time.Minute, "2h"},
		{"Days", 4*24*time.Hour + time.Hour, "4d"},
		{"Future", -time.Minute, "0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := age(now, now.Add(-tt.ago)); got != tt.want {
				t.Errorf("age(%s) = %q, want %q", tt.ago, got, tt.want)
			}
		})
	}
	if got := age(now, time.Time{}); got != "-" {
		t.Errorf("age(zero) = %q, want -", got)
	}
}
