package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/lantern-faas/lantern/platform/controller"
	"github.com/lantern-faas/lantern/platform/controller/webhook"
)

// newWebhook returns what serves the controller's validating admission
// webhook on --webhook-addr over HTTPS (the key pair in --webhook-cert-dir,
// reread when it changes), or nil when --webhook-addr is empty.
func newWebhook(o *options, ctrl *controller.Controller, logger *slog.Logger, tel *telemetryDeps) (func(context.Context) error, error) {
	if o.webhookAddr == "" {
		return nil, nil
	}
	if o.backend != backendKubernetes {
		return nil, fmt.Errorf("--webhook-addr=%s needs --backend=%s: the webhook checks writes of Lantern's custom resources", o.webhookAddr, backendKubernetes)
	}
	if o.webhookCertDir == "" {
		return nil, errors.New("--webhook-addr needs --webhook-cert-dir, a folder with tls.crt and tls.key: the API server calls webhooks over HTTPS only")
	}
	logger = logger.With("component", "webhook")
	kp, err := webhook.LoadKeyPair(o.webhookCertDir, 0, logger)
	if err != nil {
		return nil, fmt.Errorf("--webhook-cert-dir=%q: %w", o.webhookCertDir, err)
	}
	ln, err := listen("--webhook-addr", o.webhookAddr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(webhook.Path, webhook.New(ctrl, logger, tel.registerer()))
	mux.Handle("/healthz", healthz())
	tlsLn := tls.NewListener(ln, &tls.Config{GetCertificate: kp.GetCertificate, MinVersion: tls.VersionTLS12})
	logger.Info("admission webhook ready", "addr", "https://"+ln.Addr().String()+webhook.Path, "cert_dir", o.webhookCertDir)
	return func(ctx context.Context) error { return serve(ctx, tlsLn, mux, logger) }, nil
}
