package live

import (
	"fmt"
	"path/filepath"

	sysctl "github.com/lorenzosaino/go-sysctl"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/knob"
)

type sysctlKnob struct {
	key, ns, root string
}

func newSysctl(id knob.ID, ns string, env Env) backend {
	return &sysctlKnob{key: id.Key, ns: ns, root: env.ProcRoot}
}

// do runs fn with a client for the knob's namespace: per-netns sysctls are only visible from a
// thread inside that namespace.
func (k *sysctlKnob) do(fn func(c *sysctl.Client) error) error {
	return netns.Do(k.ns, func() error {
		c, err := sysctl.NewClient(filepath.Join(k.root, "sys"))
		if err != nil {
			return fmt.Errorf("sysctl root: %w", err)
		}
		return fn(c)
	})
}

func (k *sysctlKnob) Read() (string, error) {
	var v string
	err := k.do(func(c *sysctl.Client) error {
		var err error
		v, err = c.Get(k.key)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read %s: %w", k.key, err)
	}
	return knob.Normalize(v), nil
}

func (k *sysctlKnob) Write(v string) error {
	if err := k.do(func(c *sysctl.Client) error { return c.Set(k.key, v) }); err != nil {
		return fmt.Errorf("write %s=%q: %w", k.key, v, err)
	}
	return nil
}
