// Package buildmeta reads what the packaging tools take from a nettune binary's build info:
// build settings and the date every file of a reproducible artifact carries.
package buildmeta

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Setting is the build setting key of bi ("GOARCH", "vcs.revision", ...), or "".
func Setting(bi *buildinfo.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// SourceDate is SOURCE_DATE_EPOCH (the Makefile sets it to the last commit's time), else the
// commit time stamped into the binary.
func SourceDate(bi *buildinfo.BuildInfo) (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, Setting(bi, "vcs.time")); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, errors.New("no SOURCE_DATE_EPOCH and no commit time in the binary")
}
