// Package version holds the build version, injected with
// -ldflags "-X github.com/lantern-faas/lantern/platform/internal/version.Version=...".
package version

// Version is the release this binary was built from.
var Version = "dev"
