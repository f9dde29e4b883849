// Command image writes nettune's container image as a tar archive of an OCI image layout:
// the static binary as /nettune on an empty base, nothing else. No container daemon is
// involved, and the archive is reproducible: the tag, platform and dates come from the
// binary's build info and SOURCE_DATE_EPOCH (`make image` runs it).
//
//	ctr images import nettune-image.tar          # containerd
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	bin := flag.String("bin", "nettune", "the static nettune binary (make build)")
	out := flag.String("out", "nettune-image.tar", "the OCI archive to write")
	repo := flag.String("repo", "docker.io/library/nettune", "image name the archive carries (the tag is the version)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: image [-bin FILE] [-out FILE.tar] [-repo NAME]")
		os.Exit(2)
	}
	res, err := build(*bin, *out, *repo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %s@%s\n", *out, res.Name, res.Digest)
}
