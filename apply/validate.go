package apply

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
)

// validateRecorded is the one check of a knob ID, namespace and value read back from the
// journal before anything uses them: rollback writes such values as root. The knob table
// decides: the knob must be one nettune tunes, the value must have its format and range, and a
// host-wide knob must not claim a namespace.
func validateRecorded(id, netns, value string) error {
	kid, err := knob.Parse(id)
	if err != nil {
		return err
	}
	if err := validNetns(netns); err != nil {
		return err
	}
	if r, ok := knob.Lookup(kid); ok && r.Scope == model.ScopeGlobal && netns != "" {
		return fmt.Errorf("%s is host-wide but recorded in netns %q", id, netns)
	}
	return knob.Validate(kid, value)
}

// validNetns accepts what nettune records for a namespace: "" (its own), a name under
// /run/netns, or a clean absolute path (/proc/PID/ns/net, a bind mount).
func validNetns(ns string) error {
	switch {
	case ns == "":
		return nil
	case strings.ContainsAny(ns, "\x00\n"), len(ns) > 4096:
		return fmt.Errorf("netns %q is not a name or path", ns)
	case strings.Contains(ns, "/"):
		if !filepath.IsAbs(ns) || filepath.Clean(ns) != ns {
			return fmt.Errorf("netns %q is not a clean absolute path", ns)
		}
	case ns == "." || ns == ".." || len(ns) > 255:
		return fmt.Errorf("netns %q is not a name", ns)
	}
	return nil
}
