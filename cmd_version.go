package main

// cubby version (and cubby --version): what this binary is, from the build
// information the Go toolchain stamps into it.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

func defineVersion(fs *flag.FlagSet, stdout, _ io.Writer) runFunc {
	return func(_ context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		info, _ := debug.ReadBuildInfo() // nil without build info: versionText says "unknown"
		_, err := io.WriteString(stdout, versionText(info))
		return err
	}
}

// versionText describes a build: the module version, the commit it was
// built from (with "+modified" when the tree had uncommitted changes) and
// the Go version. A build without VCS information (go run, go test, a
// build outside a checkout) says "unknown" for what it lacks.
func versionText(info *debug.BuildInfo) string {
	version, commit, goVersion := "unknown", "unknown", "unknown"
	if info != nil {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		goVersion = info.GoVersion
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit != "unknown" {
			commit += "+modified"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cubby %s\n", version)
	fmt.Fprintf(&b, "commit %s\n", commit)
	fmt.Fprintf(&b, "go %s\n", goVersion)
	return b.String()
}
