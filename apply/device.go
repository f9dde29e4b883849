package apply

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nettune/nettune/collect/kstat"
	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
)

// deviceID says what a device or IRQ knob of nettune's own namespace belongs to, so that a
// value persisted for it is written again at boot only to the same hardware: for an
// interface its MAC address and driver ("mac 52:54:00:12:34:56 driver virtio_net"; virtual
// interfaces have no driver), for an IRQ the handlers /proc/interrupts names on its line
// ("irq virtio0-input.0"). IRQ numbers and interface names can move between boots; these do
// not, or the knob is not the one nettune changed. Sysctls have none ("").
func deviceID(id knob.ID, procRoot, sysRoot string) (string, error) {
	switch id.Kind {
	case knob.Sysctl:
		return "", nil
	case knob.IRQAffinity:
		return irqID(procRoot, int(id.IRQ))
	}
	dir := filepath.Join(sysRoot, "class", "net", id.Iface)
	mac, err := os.ReadFile(filepath.Join(dir, "address"))
	if err != nil {
		return "", fmt.Errorf("identify %s: %w", id.Iface, err)
	}
	s := "mac " + string(bytes.TrimSpace(mac))
	if drv, err := os.Readlink(filepath.Join(dir, "device", "driver")); err == nil {
		s += " driver " + filepath.Base(drv)
	}
	if !validDeviceID(s) {
		return "", fmt.Errorf("identify %s: unexpected %q", id.Iface, s)
	}
	return s, nil
}

func irqID(procRoot string, irq int) (string, error) {
	f, err := os.Open(filepath.Join(procRoot, "interrupts"))
	if err != nil {
		return "", fmt.Errorf("identify irq %d: %w", irq, err)
	}
	defer f.Close()
	lines, err := kstat.ParseInterrupts(f)
	if err != nil {
		return "", fmt.Errorf("identify irq %d: %w", irq, err)
	}
	for _, l := range lines {
		if l.IRQ == irq && len(l.Actions) > 0 {
			s := "irq " + strings.Join(l.Actions, ",")
			if !validDeviceID(s) {
				return "", fmt.Errorf("identify irq %d: unexpected %q", irq, s)
			}
			return s, nil
		}
	}
	return "", fmt.Errorf("identify irq %d: no handler on its line in /proc/interrupts", irq)
}

// validDeviceID accepts what deviceID produces: short, printable, one line. It is only ever
// compared, never written to a knob; the check keeps a journal line from smuggling anything
// else into messages.
func validDeviceID(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r < ' ' || r > '~' {
			return false
		}
	}
	return s == "" || strings.HasPrefix(s, "mac ") || strings.HasPrefix(s, "irq ")
}

// persistable says why a knob cannot be made to survive a reboot ("" when it can). Sysctls go
// to nettune's sysctl.d file and device and IRQ knobs to restore; both apply at boot in the
// host's initial network namespace. So a setting of another namespace cannot be persisted:
// sysctl.d would set it in the host namespace, and the namespace itself does not survive a
// reboot in any form nettune could match (a name or a /proc/PID path belongs to whatever holds
// it next). Nor can a setting of nettune's own namespace when that is not the host's (nettune
// in a container's namespace); host-wide knobs can, from anywhere.
func persistable(id knob.ID, scope model.Scope, netns string, hostNetns bool) string {
	what := "this setting"
	if id.Kind == knob.Sysctl {
		what = "sysctl " + id.Key
	}
	const how = "apply it without --persist and make it part of the namespace's own setup (its container's or CNI's sysctls)"
	switch {
	case netns != "":
		return "cannot persist " + what + " of netns " + netns + ": sysctl.d and nettune restore apply at boot in the host namespace, and this namespace does not survive a reboot; " + how
	case scope != model.ScopeGlobal && !hostNetns:
		return "cannot persist " + what + ": nettune runs in a network namespace other than the host's initial one, and sysctl.d and nettune restore apply at boot in the host's; " + how
	}
	return ""
}
