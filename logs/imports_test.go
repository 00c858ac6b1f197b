package logs_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports enforces the house rule: logs and its subpackages never import
// anything under platform/.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "github.com/lantern-faas/lantern/logs/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/lantern-faas/lantern/platform") {
			t.Errorf("logs depends on %s", pkg)
		}
	}
}
