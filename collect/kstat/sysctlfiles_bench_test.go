package kstat

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nettune/nettune/internal/lab"
)

// openByPath is how OpenSysctls opened its files before: os.OpenFile of each full path.
func openByPath(procRoot string, keys []string) ([]*os.File, error) {
	var out []*os.File
	for _, k := range keys {
		path := filepath.Join(procRoot, "sys", filepath.FromSlash(strings.ReplaceAll(k, ".", "/")))
		f, err := os.OpenFile(path, os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// BenchmarkOpenSysctls500 opens the namespaced sysctls of the first sample inside 100 of
// 500 namespaces, each opened and closed: by full path with os.OpenFile (before) and as
// OpenSysctls does (each directory once, openat, raw descriptors). ns/op is one namespace.
func BenchmarkOpenSysctls500(b *testing.B) {
	all := lab.ManyNamespaces(b, "bos", 500)
	keys := DefaultSysctls
	for _, c := range []struct {
		name string
		open func() (func(), error)
	}{
		{"os.OpenFile-by-path", func() (func(), error) {
			fs, err := openByPath("/proc", keys)
			return func() {
				for _, f := range fs {
					f.Close()
				}
			}, err
		}},
		{"openat-by-directory", func() (func(), error) {
			s, err := OpenSysctls("/proc", keys)
			if err != nil {
				return nil, err
			}
			return s.Close, nil
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				all[i%100].Do(b, func() error {
					done, err := c.open()
					if err == nil {
						done()
					}
					return err
				})
				i++
			}
		})
	}
}
