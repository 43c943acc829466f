package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVersionTextSaysVersionCommitAndGo(t *testing.T) {
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"release build", &debug.BuildInfo{
			GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "8c4e0cd1"}, {Key: "vcs.modified", Value: "false"}},
		}, "cubby v1.2.3\ncommit 8c4e0cd1\ngo go1.26.8\n"},
		{"dirty checkout", &debug.BuildInfo{
			GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}},
		}, "cubby (devel)\ncommit abc+modified\ngo go1.26.8\n"},
		{"no vcs stamp", &debug.BuildInfo{GoVersion: "go1.26.8"}, "cubby unknown\ncommit unknown\ngo go1.26.8\n"},
		{"no build info", nil, "cubby unknown\ncommit unknown\ngo unknown\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionText(tc.info); got != tc.want {
				t.Errorf("versionText = %q; want %q", got, tc.want)
			}
		})
	}
}

func TestVersionCommandAndFlagPrintThisBinary(t *testing.T) {
	// A test binary carries build info with the running Go version.
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		out, _ := wantRun(t, exitOK, []string{"cubby ", "commit ", "go " + runtime.Version()}, args...)
		if out2, _ := wantRun(t, exitOK, nil, "version"); out != out2 {
			t.Errorf("%v printed %q; cubby version prints %q", args, out, out2)
		}
	}
	code, _, errOut := runCubby(t, context.Background(), "version", "extra")
	if code != exitUsage || errOut == "" {
		t.Errorf("version extra: exit %d, stderr %q; want a usage error", code, errOut)
	}
}
