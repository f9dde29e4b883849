package cli

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/nettune/nettune/internal/fsx"
)

// readConfigFile merges the YAML file into v, except policy.knobs, which it returns: its keys
// are knob IDs ("sysctl:net.core.rmem_default"), which viper would split at every dot (its key
// delimiter) and fold to lower case (interface names are not). The file decides what root
// changes, so it must be one only root or the running user could have written (fsx.ReadFile).
func readConfigFile(v *viper.Viper, file string) (map[string]bool, error) {
	b, err := fsx.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	knobs, err := takeKnobs(doc)
	if err != nil {
		return nil, err
	}
	if err := v.MergeConfigMap(doc); err != nil {
		return nil, err
	}
	return knobs, nil
}

// takeKnobs removes policy.knobs from doc and returns it (nil when absent).
func takeKnobs(doc map[string]any) (map[string]bool, error) {
	policy, ok := lookupFold(doc, "policy").(map[string]any)
	if !ok {
		return nil, nil
	}
	raw, present := lookupFold(policy, "knobs"), false
	for k := range policy {
		if strings.EqualFold(k, "knobs") {
			delete(policy, k)
			present = true
		}
	}
	if !present || raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("policy.knobs: must map knob ID prefixes to true or false")
	}
	knobs := make(map[string]bool, len(m))
	for id, val := range m {
		allowed, ok := val.(bool)
		if !ok || strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("policy.knobs[%q]: %v is not true or false", id, val)
		}
		knobs[id] = allowed
	}
	return knobs, nil
}

func lookupFold(m map[string]any, key string) any {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// strictNumbers is the decode hook every number of the config passes, whatever its source
// (file, environment, flag): no setting of nettune's is negative, NaN or infinite, integers
// are whole numbers, and durations have a unit. mapstructure names the key in the error.
func strictNumbers(_, to reflect.Type, data any) (any, error) {
	if to == durationType {
		return duration(data)
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := wholeNumber(data)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, fmt.Errorf("%d is negative", n)
		}
		return n, nil
	case reflect.Float32, reflect.Float64:
		f, err := finiteNumber(data)
		if err != nil {
			return nil, err
		}
		if f < 0 {
			return nil, fmt.Errorf("%g is negative", f)
		}
		return f, nil
	}
	return data, nil
}

func duration(data any) (any, error) {
	var d time.Duration
	switch x := data.(type) {
	case time.Duration:
		d = x
	case string:
		var err error
		if d, err = time.ParseDuration(strings.TrimSpace(x)); err != nil {
			return nil, fmt.Errorf("%q is not a duration (like 30s or 5m)", x)
		}
	case nil:
		return data, nil
	default:
		return nil, fmt.Errorf("%v has no unit (write 30s or 5m)", data)
	}
	if d < 0 {
		return nil, fmt.Errorf("%s is negative", d)
	}
	return d, nil
}

func wholeNumber(data any) (int64, error) {
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() > math.MaxInt64 {
			return 0, fmt.Errorf("%d is too large", v.Uint())
		}
		return int64(v.Uint()), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			return 0, fmt.Errorf("%g is not a number", f)
		case f != math.Trunc(f):
			return 0, fmt.Errorf("%g is not a whole number", f)
		case f >= math.MaxInt64 || f < math.MinInt64:
			return 0, fmt.Errorf("%g is too large", f)
		}
		return int64(f), nil
	case reflect.String:
		n, err := strconv.ParseInt(strings.TrimSpace(v.String()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", v.String())
		}
		return n, nil
	}
	return 0, fmt.Errorf("%v is not a number", data)
}

func finiteNumber(data any) (float64, error) {
	v := reflect.ValueOf(data)
	var f float64
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f = float64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f = float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		f = v.Float()
	case reflect.String:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v.String()), 64); err != nil {
			return 0, fmt.Errorf("%q is not a number", v.String())
		}
	default:
		return 0, fmt.Errorf("%v is not a number", data)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%v is not a finite number", data)
	}
	return f, nil
}

// interfaceList checks the interfaces setting and merges repeated names, keeping the order.
func interfaceList(names []string) ([]string, error) {
	if len(names) == 0 {
		return names, nil
	}
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n == "" || len(n) >= 16 || n == "." || n == ".." || strings.ContainsAny(n, "/: \t\n") {
			return nil, fmt.Errorf("interfaces: %q is not an interface name", n)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}
