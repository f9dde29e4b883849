package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/nettune/nettune/apply"
	"github.com/nettune/nettune/policy"
	"github.com/nettune/nettune/render"
)

// Config is the whole configuration: configs/nettune.yaml documents every key. Values come
// from defaults, then the file, then NETTUNE_* environment variables, then flags.
type Config struct {
	Interval   time.Duration `mapstructure:"interval"`
	Interfaces []string      `mapstructure:"interfaces"`
	Netns      string        `mapstructure:"netns"`
	Output     string        `mapstructure:"output"`
	ProcRoot   string        `mapstructure:"proc_root"`
	SysRoot    string        `mapstructure:"sys_root"`
	BPF        BPFConfig     `mapstructure:"bpf"`
	Policy     policy.Config `mapstructure:"policy"`
	Apply      ApplyConfig   `mapstructure:"apply"`
	Serve      ServeConfig   `mapstructure:"serve"`
}

// ServeConfig shapes the metrics of a whole node (serve, advise -o prometheus).
type ServeConfig struct {
	// MaxNamespaces bounds the namespaces besides the host that get series of their own in
	// an interval (those with loss or drops; the rest are counted).
	MaxNamespaces int `mapstructure:"max_namespaces"`
}

// BPFConfig controls the in-path probes.
type BPFConfig struct {
	Enabled bool   `mapstructure:"enabled"`
	XDP     string `mapstructure:"xdp"` // off | generic | native | auto
	Drops   bool   `mapstructure:"drops"`
}

// ApplyConfig controls apply and apply --auto.
type ApplyConfig struct {
	StateDir        string        `mapstructure:"state_dir"`
	AllowDisruptive bool          `mapstructure:"allow_disruptive"`
	AllowGlobal     bool          `mapstructure:"allow_global"` // with a netns, change host-wide knobs too
	LockTimeout     time.Duration `mapstructure:"lock_timeout"`
	Hysteresis      int           `mapstructure:"hysteresis"`   // runs a finding must persist before auto acts
	Cooldown        time.Duration `mapstructure:"cooldown"`     // minimum time between changes of one knob
	RevertBelow     float64       `mapstructure:"revert_below"` // revert unless loss fell by at least this share
	// Persist makes apply's and auto's changes survive a reboot (apply --persist).
	Persist     bool   `mapstructure:"persist"`
	PersistFile string `mapstructure:"persist_file"` // nettune's own sysctl.d file
}

// DefaultConfig is what nettune runs with when nothing is configured.
func DefaultConfig() Config {
	return Config{
		Interval: 10 * time.Second,
		Output:   "table",
		ProcRoot: "/proc",
		SysRoot:  "/sys",
		BPF:      BPFConfig{Enabled: true, XDP: "auto", Drops: true},
		Policy:   policy.DefaultConfig(),
		Apply: ApplyConfig{StateDir: "/var/lib/nettune", LockTimeout: 30 * time.Second,
			Hysteresis: 3, Cooldown: time.Hour, RevertBelow: 0.5, PersistFile: "/etc/sysctl.d/" + apply.PersistName},
		Serve: ServeConfig{MaxNamespaces: render.DefaultMaxNamespaces},
	}
}

// Validate rejects values that cannot work, naming the key.
func (c Config) Validate() error {
	switch {
	case c.Interval < 100*time.Millisecond || c.Interval > time.Hour:
		return fmt.Errorf("interval: %s is outside 100ms..1h", c.Interval)
	case !oneOf(c.BPF.XDP, "off", "generic", "native", "auto"):
		return fmt.Errorf("bpf.xdp: %q is not one of off, generic, native, auto", c.BPF.XDP)
	case c.Apply.StateDir == "":
		return errors.New("apply.state_dir: must not be empty")
	case c.Apply.LockTimeout < 0:
		return errors.New("apply.lock_timeout: must be ≥ 0")
	case !filepath.IsAbs(c.Apply.PersistFile) || filepath.Clean(c.Apply.PersistFile) != c.Apply.PersistFile ||
		!strings.HasSuffix(c.Apply.PersistFile, ".conf"):
		// systemd-sysctl reads only *.conf files.
		return fmt.Errorf("apply.persist_file: %q is not a clean absolute path ending in .conf", c.Apply.PersistFile)
	case c.Serve.MaxNamespaces < 0 || c.Serve.MaxNamespaces > maxNamespacesLimit:
		return fmt.Errorf("serve.max_namespaces: %d is outside 0..%d", c.Serve.MaxNamespaces, maxNamespacesLimit)
	}
	if _, err := render.ParseFormat(c.Output, adviseFormats...); err != nil {
		return err
	}
	if err := c.autoConfig().Validate(); err != nil {
		return err
	}
	return c.Policy.Validate()
}

// maxNamespacesLimit: each namespace brings a dozen series or more; beyond this many a
// Prometheus server would be better served by the counts and the top of the list.
const maxNamespacesLimit = 1000

func oneOf(s string, opts ...string) bool {
	for _, o := range opts {
		if s == o {
			return true
		}
	}
	return false
}

// lockTimeout is apply's: lock_timeout 0 means do not wait (apply.Options takes 0 as its
// default and a negative value as no wait).
func (c Config) lockTimeout() time.Duration {
	if c.Apply.LockTimeout == 0 {
		return -1
	}
	return c.Apply.LockTimeout
}

func (c Config) autoConfig() apply.AutoConfig {
	return apply.AutoConfig{Hysteresis: c.Apply.Hysteresis, Cooldown: c.Apply.Cooldown, RevertBelow: c.Apply.RevertBelow}
}

// flagKeys maps command-line flags to config keys; only these flags are bound, so flags that
// are not configuration never become config keys.
var flagKeys = map[string]string{
	"interval": "interval", "iface": "interfaces", "netns": "netns", "output": "output",
	"xdp": "bpf.xdp", "state-dir": "apply.state_dir", "allow-disruptive": "apply.allow_disruptive",
	"allow-global": "apply.allow_global",
	"persist":      "apply.persist",
}

// loadConfig builds the configuration from defaults, file, environment and the flags that
// were set. A fresh viper instance per call: no global state between runs or tests.
func loadConfig(file string, flags *pflag.FlagSet) (Config, error) {
	v := viper.New()
	def := DefaultConfig()
	for key, val := range flatten(def) {
		v.SetDefault(key, val)
	}
	v.SetEnvPrefix("NETTUNE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	for _, kv := range os.Environ() {
		// AutomaticEnv only sees keys viper already knows; bind each known key explicitly so
		// NETTUNE_POLICY_CAPS_SOMAXCONN works as well as NETTUNE_INTERVAL.
		name, _, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "NETTUNE_") {
			continue
		}
		key := envKey(v, name)
		if key == "" {
			return Config{}, fmt.Errorf("environment: %s is not a config key", name)
		}
		if err := v.BindEnv(key, name); err != nil {
			return Config{}, fmt.Errorf("environment %s: %w", name, err)
		}
	}
	var knobs map[string]bool
	if file != "" {
		var err error
		if knobs, err = readConfigFile(v, file); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", file, err)
		}
	}
	if flags != nil {
		for flag, key := range flagKeys {
			if f := flags.Lookup(flag); f != nil && f.Changed {
				if err := v.BindPFlag(key, f); err != nil {
					return Config{}, fmt.Errorf("flag --%s: %w", flag, err)
				}
			}
		}
	}
	var c Config
	err := v.UnmarshalExact(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		strictNumbers,
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if knobs != nil {
		c.Policy.Knobs = knobs
	}
	if c.Interfaces, err = interfaceList(c.Interfaces); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// envKey finds the config key whose NETTUNE_ form is name ("" if none).
func envKey(v *viper.Viper, name string) string {
	want := strings.TrimPrefix(name, "NETTUNE_")
	for _, k := range v.AllKeys() {
		if strings.EqualFold(strings.ReplaceAll(k, ".", "_"), want) {
			return k
		}
	}
	return ""
}

// flatten turns a config struct into dotted keys → values, following mapstructure tags.
func flatten(c any) map[string]any {
	out := map[string]any{}
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("mapstructure"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			key := tag
			if prefix != "" {
				key = prefix + "." + tag
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(key, fv)
				continue
			}
			out[key] = fv.Interface()
		}
	}
	walk("", reflect.ValueOf(c))
	return out
}

// defaultConfigFile is read when --config is not given and the file exists.
const defaultConfigFile = "/etc/nettune/nettune.yaml"

func configFile(flag string) string {
	if flag != "" {
		return flag
	}
	if _, err := os.Stat(defaultConfigFile); err == nil {
		return defaultConfigFile
	}
	return ""
}
