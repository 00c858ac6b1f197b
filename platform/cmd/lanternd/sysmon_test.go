package main

import "testing"

func TestWantSysmonAwake(t *testing.T) {
	for _, c := range []struct {
		goos             string
		args             []string
		setting, godebug string
		want             bool
	}{
		{"linux", []string{"lanternd", "all"}, "", "", true},
		{"linux", []string{"lanternd", "--data-dir", "d", "router"}, "", "", true},
		{"linux", []string{"lanternd", "all"}, "park", "", false},
		{"linux", []string{"lanternd", "all"}, "", "schedtrace=1000", false},
		{"linux", []string{"lanternd", "env-binary"}, "", "", false},
		{"linux", []string{"lanternd", "--help"}, "", "", false},
		{"linux", []string{"lanternd"}, "", "", false},
		{"darwin", []string{"lanternd", "all"}, "", "", false},
	} {
		if got := wantSysmonAwake(c.goos, c.args, c.setting, c.godebug); got != c.want {
			t.Errorf("wantSysmonAwake(%s, %q, %q, %q) = %v, want %v", c.goos, c.args, c.setting, c.godebug, got, c.want)
		}
	}
}

func TestJoinGodebug(t *testing.T) {
	if got := joinGodebug("", "a=1"); got != "a=1" {
		t.Errorf("got %q", got)
	}
	if got := joinGodebug("x=2", "a=1"); got != "x=2,a=1" {
		t.Errorf("got %q", got)
	}
}
