package apply

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/knob/live"
)

// PersistName is nettune's own file in /etc/sysctl.d: systemd-sysctl applies it at boot, and
// files that sort after it (99-sysctl.conf, the admin's) win over it.
const PersistName = "90-nettune.conf"

// persistHeader starts the file; persistSum is the line after it, with the SHA-256 of the
// rest of the file. Together they are how nettune knows the file is its own and unchanged:
// it never writes into, or removes, a file that lacks them or whose sum does not match.
const (
	persistHeader = "# Written by nettune (apply --persist): applied at boot by systemd-sysctl. Do not edit:"
	persistNote   = "# nettune leaves an edited file alone. nettune rollback removes these settings, nettune status shows them."
	persistSum    = "# nettune-sha256: "
)

// persistPath is the sysctl.d file nettune persists sysctls to.
func (a *Applier) persistPath() string {
	if a.o.PersistFile != "" {
		return a.o.PersistFile
	}
	return filepath.Join(a.o.ConfRoot, "etc", "sysctl.d", PersistName)
}

// persistFile is what the file holds now.
type persistFile struct {
	path   string
	exists bool
	// foreign says why the file is not nettune's to change ("" when it is, or is absent).
	foreign string
	values  map[string]string // dotted key → value, when it is nettune's
}

// readPersistFile reads the file without following a symlink and checks that nettune wrote it
// and nobody changed it since.
func readPersistFile(path string) persistFile {
	p := persistFile{path: path}
	d, err := fsx.OpenDir(filepath.Dir(path))
	if errors.Is(err, os.ErrNotExist) {
		return p
	}
	if err != nil {
		p.exists, p.foreign = true, err.Error()
		return p
	}
	defer d.Close()
	b, err := d.ReadFile(filepath.Base(path))
	if errors.Is(err, os.ErrNotExist) {
		return p
	}
	p.exists = true
	if err != nil {
		p.foreign = err.Error()
		return p
	}
	if p.values, err = parsePersistFile(b); err != nil {
		p.foreign = err.Error()
	}
	return p
}

// parsePersistFile reads a file renderPersistFile wrote; anything else is an error.
func parsePersistFile(b []byte) (map[string]string, error) {
	head, body, ok := bytes.Cut(b, []byte("\n"+persistSum))
	if !ok || string(head) != persistHeader+"\n"+persistNote {
		return nil, errors.New("not written by nettune (no nettune header)")
	}
	sum, body, ok := bytes.Cut(body, []byte("\n"))
	want := sha256.Sum256(body)
	if !ok || string(sum) != hex.EncodeToString(want[:]) {
		return nil, errors.New("changed since nettune wrote it (checksum mismatch)")
	}
	values := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " = ")
		id, err := knob.Parse("sysctl:" + k)
		if !ok || err != nil || knob.Validate(id, v) != nil || values[k] != "" {
			return nil, fmt.Errorf("line %q is not one nettune writes", sc.Text())
		}
		values[k] = v
	}
	return values, nil
}

// renderPersistFile is the file for values (at least one): sorted keys, one "key = value" line
// each.
func renderPersistFile(values map[string]string) []byte {
	var body bytes.Buffer
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&body, "%s = %s\n", k, values[k])
	}
	sum := sha256.Sum256(body.Bytes())
	return fmt.Appendf(nil, "%s\n%s\n%s%s\n%s", persistHeader, persistNote, persistSum, hex.EncodeToString(sum[:]), body.Bytes())
}

// PersistResult is what a run did to nettune's sysctl.d file.
type PersistResult struct {
	File   string   `json:"file"`
	Action string   `json:"action"`         // written, removed, refused
	Keys   []string `json:"keys,omitempty"` // the sysctls the file holds now (written)
	Note   string   `json:"note,omitempty"` // why it was refused
}

// persisted is what nettune's sysctl.d file should hold: for every sysctl with live changes,
// the value of the newest done change made with --persist.
func (h *history) persisted() map[string]string {
	out := map[string]string{}
	for _, live := range h.live {
		for n := len(live) - 1; n >= 0; n-- {
			e := h.entries[live[n]]
			if !e.Persist || e.State != StateDone {
				continue
			}
			if id, err := knob.Parse(e.Knob); err == nil && id.Kind == knob.Sysctl {
				out[id.Key] = knob.Normalize(cmp.Or(e.Got, e.New))
			}
			break
		}
	}
	return out
}

// syncPersist makes nettune's sysctl.d file hold what the journal says is persisted (h must be
// the history after the run's changes): written when something is, removed when nothing is
// any more. It changes only a file nettune wrote and nobody edited since; otherwise it says so
// and leaves the file alone. nil when there was nothing to do.
func (a *Applier) syncPersist(h *history) (*PersistResult, error) {
	want := h.persisted()
	cur := readPersistFile(a.persistPath())
	res := &PersistResult{File: cur.path}
	switch {
	case cur.foreign != "" && (len(want) > 0 || len(cur.values) > 0):
		res.Action, res.Note = "refused", cur.path+" "+cur.foreign+": left alone"
		return res, nil
	case cur.foreign != "", len(want) == 0 && !cur.exists:
		return nil, nil
	case len(want) == 0:
		d, err := fsx.OpenDir(filepath.Dir(cur.path))
		if err != nil {
			return nil, fmt.Errorf("persist: %w", err)
		}
		defer d.Close()
		hook("persist", 0)
		if err := d.Remove(filepath.Base(cur.path)); err != nil {
			return nil, fmt.Errorf("persist: %w", err)
		}
		res.Action = "removed"
		return res, nil
	case maps.Equal(cur.values, want):
		return nil, nil
	}
	d, err := fsx.CreateDir(filepath.Dir(cur.path), 0o755)
	if err != nil {
		return nil, fmt.Errorf("persist: %w", err)
	}
	defer d.Close()
	hook("persist", 0)
	b := renderPersistFile(want)
	err = d.WriteAtomic(filepath.Base(cur.path), 0o644, true, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("persist: %w", err)
	}
	res.Action = "written"
	for k := range want {
		res.Keys = append(res.Keys, k)
	}
	slices.Sort(res.Keys)
	return res, nil
}

// decidePersist marks a step to survive a reboot, or says why it cannot: the knob lives in
// another namespace (persistable), nettune's sysctl.d file is someone else's, or the device or
// IRQ cannot be identified for restore.
func (a *Applier) decidePersist(st *Step, k live.Knob, own *owners) string {
	id, err := knob.Parse(k.ID())
	if err != nil {
		return err.Error()
	}
	if why := persistable(id, k.Scope(), k.Netns(), own.hostNetns); why != "" {
		return why
	}
	if id.Kind == knob.Sysctl {
		if p := own.persist; p.foreign != "" {
			return fmt.Sprintf("cannot persist: %s %s; nettune writes only into a file it created: remove or rename that file, or apply without --persist", p.path, p.foreign)
		}
	} else if st.device, err = deviceID(id, a.o.Env.ProcRoot, a.o.Env.SysRoot); err != nil {
		return "cannot persist: " + err.Error()
	}
	st.Persist = true
	return ""
}

// persistStatus is the value a knob gets at boot and, when that is not what nettune
// persisted, why: the newest live change made with --persist says what nettune persisted, and
// for a sysctl its sysctl.d file says what boot applies.
func (h *history) persistStatus(key string, pf persistFile) (value, note string) {
	live := h.live[key]
	for n := len(live) - 1; n >= 0; n-- {
		e := h.entries[live[n]]
		if !e.Persist || e.State != StateDone {
			continue
		}
		want := knob.Normalize(cmp.Or(e.Got, e.New))
		id, err := knob.Parse(e.Knob)
		if err != nil || id.Kind != knob.Sysctl {
			return want, "" // nettune restore writes it at boot
		}
		switch got, ok := pf.values[id.Key]; {
		case pf.foreign != "":
			return "", pf.path + " " + pf.foreign
		case !ok:
			return "", "missing from " + pf.path + " (the next apply, auto or rollback run writes it again)"
		case got != want:
			return got, pf.path + " holds " + got + ", not " + want
		default:
			return got, ""
		}
	}
	return "", ""
}
