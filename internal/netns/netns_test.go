package netns_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
)

func TestDoUnknownNamespace(t *testing.T) {
	err := netns.Do("nettune-no-such-ns", func() error { return nil })
	if !errors.Is(err, netns.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestDoWithSysfsSeesNamespaceLinks(t *testing.T) {
	a, b := lab.NewNS(t, "nsA"), lab.NewNS(t, "nsB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{Queues: 2})
	err := netns.DoWithSysfs(a.Name, netns.ReadOnly, func(sys string) error {
		if _, err := os.Stat(filepath.Join(sys, "class/net", v.AName, "queues/rx-1/rps_cpus")); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(sys, "class/net", v.BName)); !errors.Is(err, os.ErrNotExist) {
			return errors.New("peer in the other namespace is visible")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The caller's own view is untouched.
	if _, err := os.Stat(filepath.Join("/sys/class/net", v.AName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("namespace link visible in the caller's sysfs: %v", err)
	}
}
