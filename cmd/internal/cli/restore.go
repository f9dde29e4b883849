package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/nettune/nettune/render"
)

func newRestore(c *common) *cobra.Command {
	var output render.Format
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "At boot: apply again the ring sizes, RPS masks and IRQ affinity changed with apply --persist",
		Long: `restore writes again the device and IRQ knobs that apply --persist changed (ring sizes, RPS
masks and flow counts, IRQ affinity, txqueuelen, qdisc limits): a reboot puts them back to the
drivers' defaults. Persisted sysctls need no restore: systemd-sysctl applies nettune's sysctl.d
file at boot. nettune-restore.service runs it once at boot.

Each value comes from the journal, checked like every value nettune reads back, and is written
like every change: journaled first, read back after. A knob is written only when its device is
the same one (MAC address and driver, or the IRQ's handlers), and only over the value nettune
found before its first change, which is what a reboot brings back; anything else is reported and
left alone, as is IRQ affinity while irqbalance runs. rollback undoes what restore wrote.`,
		Example: `  nettune restore                 # nettune-restore.service runs it at boot
  nettune restore -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd.Flags())
			if err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return usagef("restore changes kernel settings and needs root")
			}
			res, err := newApplier(cfg).Restore()
			if res != nil {
				if werr := render.Restore(c.s.Out, output, res); werr != nil {
					return werr
				}
			}
			return applyErr(err)
		},
	}
	cmd.Flags().String("state-dir", "/var/lib/nettune", "journal, lock and previous sample")
	outputFlag(cmd.Flags(), &output, otherFormats)
	return cmd
}
