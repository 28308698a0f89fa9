package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// parseWithEnv parses args into fs after giving every flag the value of its
// environment variable, SESSIONREC_ and the flag's name in upper case with
// dashes as underscores (--session-gap: SESSIONREC_SESSION_GAP). The
// command line wins over the environment.
func parseWithEnv(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SESSIONREC_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

// brokerList splits a comma-separated broker list.
func brokerList(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
