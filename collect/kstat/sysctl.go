package kstat

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/lorenzosaino/go-sysctl"

	"github.com/nettune/nettune/knob"
)

// DefaultSysctls are the sysctls of the knob table: every one nettune tunes, advises on or
// reads as evidence.
var DefaultSysctls = knob.SysctlKeys()

// ReadSysctls reads the dotted keys from <proc>/sys as the calling thread's network namespace
// sees them. Keys that do not exist there are skipped silently: global-only keys such as
// net.core.netdev_max_backlog are absent in a child netns, net.netfilter.* without conntrack.
// Whitespace runs are collapsed to one space ("4096\t131072\t6291456" → "4096 131072 6291456").
// A key that exists but cannot be read does not hide the others: the map holds every value
// read and the error names the keys that failed.
func ReadSysctls(procRoot string, keys []string) (map[string]string, error) {
	c, err := sysctl.NewClient(filepath.Join(procRoot, "sys"))
	if err != nil {
		return nil, fmt.Errorf("sysctl: %w", err)
	}
	m := make(map[string]string, len(keys))
	var errs []error
	for _, k := range keys {
		v, err := c.Get(k)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			errs = append(errs, fmt.Errorf("sysctl %s: %w", k, err))
		default:
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m, errors.Join(errs...)
}
