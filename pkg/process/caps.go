package process

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
)

// ParseCap accepts "CAP_NET_ADMIN", "net_admin" or "NET_ADMIN" and returns the canonical name.
func ParseCap(s string) (string, error) {
	c, err := capOf(s)
	if err != nil {
		return "", err
	}
	return capName(c), nil
}

// capOf is the capability named s, in any of ParseCap's spellings.
func capOf(s string) (capability.Cap, error) {
	name := strings.TrimPrefix(strings.ToLower(s), "cap_")
	for _, c := range capability.ListKnown() {
		if c.String() == name {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown capability %q (see capabilities(7))", s)
}

// capName is the name of c as capabilities(7) spells it, e.g. CAP_NET_ADMIN.
func capName(c capability.Cap) string { return "CAP_" + strings.ToUpper(c.String()) }

// capsOf parses a list of capability names.
func capsOf(names []string) ([]capability.Cap, error) {
	caps := make([]capability.Cap, 0, len(names))
	for _, n := range names {
		c, err := capOf(n)
		if err != nil {
			return nil, err
		}
		caps = append(caps, c)
	}
	return caps, nil
}

// loadCaps reads the calling thread's capability sets.
func loadCaps() (capability.Capabilities, error) {
	caps, err := capability.NewPid2(0)
	if err != nil {
		return nil, fmt.Errorf("reading the capabilities: %w", err)
	}
	if err := caps.Load(); err != nil {
		return nil, fmt.Errorf("reading the capabilities: %w", err)
	}
	return caps, nil
}

// dropBounding removes every capability not in keep from the calling thread's bounding set, and
// records the new set in caps.
func dropBounding(caps capability.Capabilities, keep []capability.Cap) error {
	// Without CAP_SETPCAP the library skips the drop silently: a bounding set asked for and not
	// applied must be an error instead.
	if !caps.Get(capability.EFFECTIVE, capability.CAP_SETPCAP) {
		return errors.New("dropping capabilities from the bounding set: CAP_SETPCAP is not in the effective set")
	}
	caps.Clear(capability.BOUNDS)
	caps.Set(capability.BOUNDING, keep...)
	if err := caps.Apply(capability.BOUNDS); err != nil {
		return fmt.Errorf("dropping capabilities from the bounding set: %w", err)
	}
	return nil
}

// setCaps makes keep the calling thread's effective, permitted, inheritable and ambient sets, so that
// a non-root command keeps them across exec. root (root stays root, caps are only added) keeps, in
// addition, whatever it holds that the bounding set (as caps records it) still allows.
func setCaps(caps capability.Capabilities, keep []capability.Cap, root bool) error {
	set := slices.Clone(keep)
	if root {
		for _, c := range capability.ListKnown() {
			if caps.Get(capability.PERMITTED, c) && caps.Get(capability.BOUNDING, c) {
				set = append(set, c)
			}
		}
	}
	for _, c := range keep {
		if !caps.Get(capability.BOUNDING, c) {
			return fmt.Errorf("keeping %s: it is not in the bounding set", capName(c))
		}
	}
	caps.Clear(capability.CAPS | capability.AMBS)
	caps.Set(capability.CAPS|capability.AMBIENT, set...)
	if err := caps.Apply(capability.CAPS | capability.AMBS); err != nil {
		return fmt.Errorf("setting the capabilities: %w", err)
	}
	return nil
}
