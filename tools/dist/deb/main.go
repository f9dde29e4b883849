// Command deb builds nettune's Debian package from a tree that `make install DESTDIR=root
// PREFIX=/usr` staged (`make deb` does both). The version, architecture and date come from
// the staged binary's build info (module version, GOARCH) and SOURCE_DATE_EPOCH, so the
// same commit gives the same package byte for byte.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", "", "staged tree (make install DESTDIR=...) with usr/bin/nettune")
	out := flag.String("out", ".", "directory for the .deb")
	maintainer := flag.String("maintainer", "nettune developers", "the package's Maintainer field")
	flag.Parse()
	if *root == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: deb -root STAGED-TREE [-out DIR] [-maintainer NAME]")
		os.Exit(2)
	}
	path, err := build(*root, *out, *maintainer)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deb:", err)
		os.Exit(1)
	}
	fmt.Println(filepath.Clean(path))
}
