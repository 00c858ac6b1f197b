package main

import (
	"log/slog"
	"strings"
	"testing"
)

// TestNewWebhook_FlagErrors: a webhook that cannot work is refused at
// start with the flag to fix.
func TestNewWebhook_FlagErrors(t *testing.T) {
	tests := []struct {
		name string
		o    options
		want string
	}{
		{"Off", options{backend: backendLocal}, ""},
		{"LocalBackend", options{backend: backendLocal, webhookAddr: "127.0.0.1:0", webhookCertDir: "x"}, "--webhook-addr=127.0.0.1:0 needs --backend=kubernetes"},
		{"NoCertDir", options{backend: backendKubernetes, webhookAddr: "127.0.0.1:0"}, "--webhook-addr needs --webhook-cert-dir"},
		{"EmptyCertDir", options{backend: backendKubernetes, webhookAddr: "127.0.0.1:0", webhookCertDir: t.TempDir()}, "--webhook-cert-dir="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := newWebhook(&tt.o, nil, slog.New(slog.DiscardHandler), &telemetryDeps{})
			switch {
			case tt.want == "" && (err != nil || run != nil):
				t.Fatalf("got %v (run %v), want nil and no webhook", err, run != nil)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
