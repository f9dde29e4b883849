package apply

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nettune/nettune/collect/kstat"
)

// sysctlConfGlobs are where admins pin sysctls (sysctl.d(5)); later files win, but any
// mention makes the key the admin's.
var sysctlConfGlobs = []string{
	"etc/sysctl.conf", "etc/sysctl.d/*.conf", "run/sysctl.d/*.conf", "usr/lib/sysctl.d/*.conf",
}

// owners says which settings belong to someone else.
type owners struct {
	pinned     map[string]string // dotted sysctl key → file that sets it
	irqbalance bool
	persist    persistFile // nettune's own sysctl.d file, as it is now
	// hostNetns: nettune runs in the host's initial network namespace (that of PID 1), the
	// one sysctl.d and the restore unit apply to at boot.
	hostNetns bool
}

// irqbalance is the caller's answer when it has one (auto mode: the sample has looked);
// nil scans procRoot. persistPath is nettune's own sysctl.d file: its keys are nettune's, not
// pins, as long as it is the file nettune wrote; edited, it is someone else's like any other.
func readOwners(confRoot, procRoot string, irqbalance *bool, persistPath string) (*owners, error) {
	o := &owners{pinned: map[string]string{}, persist: readPersistFile(persistPath), hostNetns: inInitialNetns(procRoot)}
	for _, g := range sysctlConfGlobs {
		files, err := filepath.Glob(filepath.Join(confRoot, g))
		if err != nil {
			return nil, fmt.Errorf("sysctl.d glob: %w", err)
		}
		sort.Strings(files)
		for _, f := range files {
			if f == filepath.Clean(persistPath) && o.persist.foreign == "" {
				continue
			}
			keys, err := readSysctlConf(f)
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				if _, ok := o.pinned[k]; !ok {
					o.pinned[k] = f
				}
			}
		}
	}
	if irqbalance != nil {
		o.irqbalance = *irqbalance
	} else {
		// An unreadable /proc leaves IRQ affinity writable: the write itself then fails
		// or verifies, and the journal keeps the original.
		o.irqbalance, _ = kstat.IRQBalanceRunning(procRoot)
	}
	return o, nil
}

func readSysctlConf(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sysctl config: %w", err)
	}
	defer f.Close()
	keys, err := parseSysctlConf(f)
	if err != nil {
		return nil, fmt.Errorf("sysctl config %s: %w", path, err)
	}
	return keys, nil
}

// parseSysctlConf returns the dotted keys a sysctl.d file sets. "-key" (ignore failures) still
// pins the key; glob keys are rare and ignored; slash keys are turned into dotted ones.
func parseSysctlConf(r io.Reader) ([]string, error) {
	var keys []string
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			continue // systemd-sysctl ignores such lines with a warning
		}
		k = dottedKey(strings.TrimPrefix(strings.TrimSpace(k), "-"))
		if k == "" || strings.ContainsAny(k, "*?[") { // "" also for "." or "/" alone
			continue
		}
		keys = append(keys, k)
	}
	return keys, s.Err()
}

// dottedKey follows sysctl.d(5): when the first separator is a slash, slashes and dots swap.
func dottedKey(k string) string {
	k = strings.Trim(k, "/.")
	i := strings.IndexAny(k, "./")
	if i < 0 || k[i] == '.' {
		return k
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '/':
			return '.'
		case '.':
			return '/'
		}
		return r
	}, k)
}

// inInitialNetns reports whether nettune runs in the network namespace of PID 1; false when
// either cannot be read.
func inInitialNetns(procRoot string) bool {
	// thread-self: the main thread may be one that entered another namespace for good
	// (Go never ends it), and self is the main thread's.
	self, err1 := os.Readlink(filepath.Join(procRoot, "thread-self", "ns", "net"))
	if errors.Is(err1, os.ErrNotExist) { // a recorded root has self only
		self, err1 = os.Readlink(filepath.Join(procRoot, "self", "ns", "net"))
	}
	pid1, err2 := os.Readlink(filepath.Join(procRoot, "1", "ns", "net"))
	return err1 == nil && err2 == nil && self == pid1
}
