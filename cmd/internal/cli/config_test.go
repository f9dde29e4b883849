package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestShippedConfigIsTheDefault(t *testing.T) {
	// A copy: the checkout may belong to another user than the one running the tests, and
	// nettune refuses a config someone other than root or itself could have written.
	b, err := os.ReadFile("../../../configs/nettune.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := loadConfig(writeConfig(t, string(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	// An empty YAML list or map and an absent one mean the same.
	if len(got.Policy.Knobs) == 0 {
		got.Policy.Knobs = want.Policy.Knobs
	}
	if len(got.Interfaces) == 0 {
		got.Interfaces = want.Interfaces
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("configs/nettune.yaml differs from DefaultConfig:\n got %+v\nwant %+v", got, want)
	}
}

func TestShippedConfigNamesEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../../configs/nettune.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for key := range flatten(DefaultConfig()) {
		leaf := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(b), leaf+":") {
			t.Errorf("configs/nettune.yaml does not document %s", key)
		}
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nettune.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigRejects(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unknown top-level key", "intervall: 5s\n", "intervall"},
		{"unknown nested key", "policy:\n  caps:\n    somaxcon: 10\n", "somaxcon"},
		{"bad duration", "interval: soon\n", "interval"},
		{"interval too short", "interval: 1ms\n", "interval"},
		{"bad output", "output: xml\n", "output"},
		{"bad xdp mode", "bpf:\n  xdp: turbo\n", "bpf.xdp"},
		{"negative cap", "policy:\n  caps:\n    somaxconn: -1\n", "caps.somaxconn"},
		{"ratio order", "policy:\n  thresholds:\n    act_ratio: 0.00001\n", "act_ratio"},
		{"negative namespace cap", "serve:\n  max_namespaces: -1\n", "serve.max_namespaces"},
		{"namespace cap too high", "serve:\n  max_namespaces: 100000\n", "serve.max_namespaces"},
		{"malformed yaml", "interval: [\n", "nettune.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, tc.body), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, "interval: 20s\npolicy:\n  caps:\n    somaxconn: 1000\n")
	t.Setenv("NETTUNE_POLICY_CAPS_SOMAXCONN", "2000")
	t.Setenv("NETTUNE_INTERVAL", "30s")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Duration("interval", 0, "")
	fs.StringSlice("iface", nil, "")
	if err := fs.Parse([]string{"--interval=40s", "--iface=eth0,eth1"}); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(file, fs)
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval != 40*time.Second {
		t.Errorf("interval = %s, want the flag's 40s", c.Interval)
	}
	if c.Policy.Caps.Somaxconn != 2000 {
		t.Errorf("somaxconn cap = %d, want the environment's 2000", c.Policy.Caps.Somaxconn)
	}
	if !reflect.DeepEqual(c.Interfaces, []string{"eth0", "eth1"}) {
		t.Errorf("interfaces = %v", c.Interfaces)
	}
	os.Unsetenv("NETTUNE_POLICY_CAPS_SOMAXCONN") // t.Setenv restores it at the end
	c, err = loadConfig(file, nil)
	if err != nil || c.Interval != 30*time.Second || c.Policy.Caps.Somaxconn != 1000 {
		t.Errorf("env over file: %v %s %d", err, c.Interval, c.Policy.Caps.Somaxconn)
	}
}

func TestConfigRejectsUnknownEnv(t *testing.T) {
	t.Setenv("NETTUNE_INTERVALL", "3s")
	_, err := loadConfig("", nil)
	if err == nil || !strings.Contains(err.Error(), "NETTUNE_INTERVALL") {
		t.Fatalf("err = %v", err)
	}
}
