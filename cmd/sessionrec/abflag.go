package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sessionrec/sessionrec/processor"
)

// abFlag is run's --ab: an A/B split, VERSION_A=SHARE,VERSION_B=SHARE
// (e.g. m-1=90,m-2=10); empty: none.
type abFlag []processor.Arm

var _ interface {
	String() string
	Set(string) error
} = (*abFlag)(nil)

func (f *abFlag) String() string {
	if f == nil || len(*f) == 0 {
		return ""
	}
	parts := make([]string, len(*f))
	for i, a := range *f {
		parts[i] = a.Version + "=" + strconv.FormatFloat(a.Share, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// Set parses the split. The processor checks the rest (two distinct
// versions) and normalises the shares.
func (f *abFlag) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		*f = nil
		return nil
	}
	const want = "want VERSION_A=SHARE,VERSION_B=SHARE, e.g. m-1=90,m-2=10"
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return fmt.Errorf("%q has %d arms: %s", s, len(parts), want)
	}
	arms := make(abFlag, 2)
	for i, p := range parts {
		// The share follows the last "=": a version may hold one.
		cut := strings.LastIndexByte(p, '=')
		if cut < 0 {
			return fmt.Errorf("arm %q has no share: %s", p, want)
		}
		version, share := strings.TrimSpace(p[:cut]), strings.TrimSpace(p[cut+1:])
		if version == "" {
			return fmt.Errorf("arm %q has no version: %s", p, want)
		}
		x, err := strconv.ParseFloat(share, 64)
		if err != nil || !(x > 0) || math.IsInf(x, 0) {
			return fmt.Errorf("arm %s: share %q: want a number > 0 (shares are normalised: 90 and 10, or 0.9 and 0.1)", version, share)
		}
		arms[i] = processor.Arm{Version: version, Share: x}
	}
	if arms[0].Version == arms[1].Version {
		return fmt.Errorf("both arms are version %q: want two versions", arms[0].Version)
	}
	*f = arms
	return nil
}
