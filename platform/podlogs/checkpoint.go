package podlogs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/logs/cri"
)

// checkpoint is how far a pod's log has been read and stored, kept in
// <StateDir>/<namespace>_<pod>_<uid>.json.
type checkpoint struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	UID       string `json:"uid"`
	// Identity is the pod's, so that a pod deleted while nobody read can
	// still be read to its end.
	Identity Identity     `json:"identity"`
	Position cri.Position `json:"position"`
	// Partial holds the lines begun at Position and not yet ended.
	Partial []cri.Partial `json:"partial,omitempty"`
	// Capture is the Capture's state of the instance at Position.
	Capture logs.InstanceState `json:"capture"`
}

// key names a pod's log folder and checkpoint.
func key(namespace, pod, uid string) string { return namespace + "_" + pod + "_" + uid }

func (c *checkpoint) key() string { return key(c.Namespace, c.Pod, c.UID) }

const checkpointExt = ".json"

// save writes c atomically.
func (c *checkpoint) save(dir string) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, c.key()+checkpointExt)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

func removeCheckpoint(dir, key string) error {
	err := os.Remove(filepath.Join(dir, key+checkpointExt))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// loadCheckpoints reads the checkpoints in dir. One that cannot be read is
// reported in bad and skipped: its pod is read again from its start, which
// stores nothing twice.
func loadCheckpoints(dir string) (cps []*checkpoint, bad []error, err error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), checkpointExt) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			bad = append(bad, err)
			continue
		}
		var c checkpoint
		if err := json.Unmarshal(data, &c); err != nil || c.UID == "" {
			bad = append(bad, fmt.Errorf("checkpoint %s: %v", de.Name(), err))
			continue
		}
		cps = append(cps, &c)
	}
	return cps, bad, nil
}
