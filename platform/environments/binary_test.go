package environments_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBinary_Load(t *testing.T) {
	t.Parallel()
	notLoaded := call{path: "/", status: http.StatusInternalServerError, bodyHas: []string{"no function loaded"}}
	runLoadCases(t, startBinary, []loadCase{
		{
			name: "EchoStdinAndHeaders",
			code: code{"binary/echo.sh", ""},
			calls: []call{{method: http.MethodPost, path: "/p?q=1", body: "hello stdin",
				header: []string{"X-Test", "from-header"}, status: 200,
				bodyHas: []string{"x-test=from-header query=q=1\n", "POST /p?q=1 hello stdin"}}},
		},
		{
			name: "FailsBeforeOutput",
			code: code{"binary/fail.sh", ""},
			calls: []call{{method: http.MethodPost, path: "/", body: "x", status: 500,
				bodyHas: []string{"exit status 3", "something broke: no database"}}},
		},
		{
			// A folder and no entrypoint: handler, run in its folder.
			name:  "DirectoryDefault",
			code:  code{"binary/dir", ""},
			calls: []call{{path: "/", status: 200, bodyHas: []string{"data next to the handler"}}},
		},
		{
			name:  "DirectoryFissionStyleEntrypoint",
			code:  code{"binary/dir", "handler.Handler"},
			calls: []call{{path: "/", status: 200, bodyHas: []string{"data next to the handler"}}},
		},
		{
			name:       "DirectoryMissingEntrypoint",
			code:       code{"binary/dir", "nosuch"},
			specStatus: 500,
			specHas:    []string{`executable "nosuch" not found`, "data.txt, handler"},
			calls:      []call{notLoaded},
		},
		{
			name:       "NotExecutable",
			code:       code{"binary/notexec.txt", ""},
			specStatus: 500,
			specHas:    []string{"is not an executable"},
			calls:      []call{notLoaded},
		},
	})
}

// TestBinary_Chmod checks that specialization makes the file executable.
func TestBinary_Chmod(t *testing.T) {
	t.Parallel()
	userfunc, path := fixture(t, "binary/echo.sh")
	inst := startBinary(t, userfunc)
	inst.mustSpecialize(t, path, "")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o111 != 0o111 {
		t.Errorf("mode after specialize = %v, want executable", st.Mode())
	}
	if r := inst.do(t, http.MethodGet, "/", ""); r.status != 200 {
		t.Errorf("GET / = %d %q, want 200", r.status, r.body)
	}
}

// TestBinary_Cancel checks that a request that goes away kills the
// program and what it started.
func TestBinary_Cancel(t *testing.T) {
	t.Parallel()
	userfunc, path := fixture(t, "binary/sleep.sh")
	inst := startBinary(t, userfunc)
	inst.mustSpecialize(t, path, "")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, inst.base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "started\n" {
		t.Fatalf("first line = %q, %v; want started", line, err)
	}
	data, err := os.ReadFile(filepath.Join(userfunc, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	pids := strings.Fields(string(data))
	if len(pids) != 2 {
		t.Fatalf("pids file = %q, want two pids", data)
	}
	cancel()

	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %s still alive after the request was cancelled", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// alive reports whether a process runs (zombies count as gone).
func alive(pid string) bool {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
