package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestABFlag: --ab takes VERSION_A=SHARE,VERSION_B=SHARE and refuses
// anything else with a message that says what it wants.
func TestABFlag(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  abFlag
		err   string
	}{
		{value: "", want: nil},
		{value: "m-1=90,m-2=10", want: abFlag{{Version: "m-1", Share: 90}, {Version: "m-2", Share: 10}}},
		{value: " m-1 = 0.5 , m-2=0.5 ", want: abFlag{{Version: "m-1", Share: 0.5}, {Version: "m-2", Share: 0.5}}},
		{value: "v=1=1,m-2=3", want: abFlag{{Version: "v=1", Share: 1}, {Version: "m-2", Share: 3}}},
		{value: "m-1=50", err: `"m-1=50" has 1 arms: want VERSION_A=SHARE,VERSION_B=SHARE`},
		{value: "m-1=1,m-2=1,m-3=1", err: "has 3 arms"},
		{value: "m-1,m-2", err: `arm "m-1" has no share`},
		{value: "=1,m-2=1", err: `arm "=1" has no version`},
		{value: "m-1=x,m-2=1", err: `arm m-1: share "x": want a number > 0`},
		{value: "m-1=0,m-2=1", err: `arm m-1: share "0": want a number > 0`},
		{value: "m-1=-1,m-2=1", err: `share "-1"`},
		{value: "m-1=NaN,m-2=1", err: `share "NaN"`},
		{value: "m-1=Inf,m-2=1", err: `share "Inf"`},
		{value: "m-1=1,m-1=2", err: `both arms are version "m-1"`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			var f abFlag
			err := f.Set(tc.value)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, f)
			if tc.want != nil {
				var again abFlag
				require.NoError(t, again.Set(f.String()), "String reads back")
				require.Equal(t, f, again)
			}
		})
	}
}

// TestRunRefusesABFlag: run stops at start on a malformed --ab, or
// SESSIONREC_AB, before it opens its store.
func TestRunRefusesABFlag(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"run", "--brokers", "127.0.0.1:1", "--data-dir", data, "--ab", "m-1=90"}, &out, &errOut)
	require.ErrorContains(t, err, `invalid value "m-1=90" for flag -ab: "m-1=90" has 1 arms: want VERSION_A=SHARE,VERSION_B=SHARE, e.g. m-1=90,m-2=10`)
	t.Setenv("SESSIONREC_AB", "m-1=90;m-2=10")
	err = run(t.Context(), []string{"run", "--brokers", "127.0.0.1:1", "--data-dir", data}, &out, &errOut)
	require.ErrorContains(t, err, `SESSIONREC_AB="m-1=90;m-2=10"`)
	require.ErrorContains(t, err, "has 1 arms")
	_, statErr := os.Stat(data)
	require.ErrorIs(t, statErr, os.ErrNotExist, "the store is not opened")
}
