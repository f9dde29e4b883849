package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// addVersion gives root a `version` command and a `--version` flag, both printing what the
// Go toolchain stamped into the binary: the module version and the VCS revision it was built
// from. No build time: a reproducible build has none, so the commit time stands in for it.
func addVersion(root *cobra.Command) {
	version, text := versionText(debug.ReadBuildInfo())
	root.Version = version
	root.SetVersionTemplate(text)
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Show the version and the source revision nettune was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), text)
			return err
		},
	})
}

// versionText returns the module version and the full text for build info (ok false: the
// binary carries none).
func versionText(bi *debug.BuildInfo, ok bool) (version, text string) {
	version = "(unknown)"
	var revision, modified, when string
	if ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			case "vcs.time":
				when = s.Value
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "nettune %s\n", version)
	switch {
	case revision == "":
		b.WriteString("  revision  unknown (built without version control information)\n")
	case modified == "true":
		fmt.Fprintf(&b, "  revision  %s (with uncommitted changes)\n", revision)
	default:
		fmt.Fprintf(&b, "  revision  %s\n", revision)
	}
	if when != "" {
		fmt.Fprintf(&b, "  committed %s\n", when)
	}
	goVersion := runtime.Version()
	if ok {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(&b, "  go        %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return version, b.String()
}
